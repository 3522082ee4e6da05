/* An S3 bucket as a store (store/store.h), for the filesystem layer. */
#ifndef TFS_S3_S3STORE_H
#define TFS_S3_S3STORE_H
#include "s3/s3.h"
#include "store/store.h"

/* The store over client c (borrowed: it must outlive the store). Returns 0 or -ENOMEM. */
int s3_store_new(struct s3_client *c, struct store **out);
#endif
