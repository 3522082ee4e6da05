/* Terraform's DynamoDB lock table as a lock table (store/table.h), for the filesystem. */
#ifndef TFS_S3_DDBTABLE_H
#define TFS_S3_DDBTABLE_H
#include "s3/ddb.h"
#include "store/table.h"

/* The table over client c (borrowed: it must outlive the table). Returns 0 or -ENOMEM. */
int ddb_table_new(struct ddb_client *c, struct table **out);
#endif
