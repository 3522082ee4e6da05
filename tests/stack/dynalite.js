// tests/stack/dynalite.js CLI_JS [dynalite options]: runs dynalite's own cli.js, except that
// a client leaving in the middle of a request no longer ends the whole server.
//
// Why: dynalite's request handler has `req.on('error', function (err) { throw err })`. When
// a client closes its connection before dynalite has answered (a terraform killed with -9,
// a mount unmounted while a request is in flight, a proxy that drops a connection), node
// emits that error ("aborted", ECONNRESET) and the throw kills dynalite, and every later
// test that needs DynamoDB fails. Real DynamoDB just drops that one request. Any other
// uncaught error still ends the process, with its stack trace, as before.
'use strict'

const cli = process.argv[2]
if (!cli) {
  console.error('usage: node dynalite.js CLI_JS [dynalite options]')
  process.exit(2)
}

function isClientAbort (err) {
  return Boolean(err) && err.code === 'ECONNRESET' && err.message === 'aborted'
}

process.on('uncaughtException', (err) => {
  if (isClientAbort(err)) {
    console.error(new Date().toISOString() + ' dynalite.js: a client closed its connection mid-request; that request is dropped')
    return
  }
  console.error(err)
  process.exit(70)
})

// cli.js reads its options from process.argv.slice(2): drop this script's own argument.
process.argv.splice(2, 1)
require(cli)
