// The Firestore emulator for the document store tests: @firestore-emulator/server on 127.0.0.1:$PORT.
// The package's own `start(port)` binds 0.0.0.0, so this binds its gRPC server to loopback instead.
// Prints one ready line once it serves; exits on SIGTERM/SIGINT. Its gaps (transactions are not isolated,
// integers past 2^53 fail) are listed in the kit's docs/emulators.md, Firestore; one more is fixed below.
'use strict';

const { FirestoreServer, FirestoreStateDocument } = require('@firestore-emulator/server');
const { ServerCredentials } = require('@grpc/grpc-js');

// 0.3.15 merges a write without an update mask into the stored fields. Firestore overwrites the whole
// document then (v1 Write.update_mask: "If not set, the existing document is overwritten"): a plain
// `set()` must drop the fields it does not name. Clear them first; masked writes (merge) are untouched.
const mergingSet = FirestoreStateDocument.prototype.set;
FirestoreStateDocument.prototype.set = function set(date, fields, updateMask = []) {
  if (updateMask.length === 0) {
    this.fields = {};
  }
  return mergingSet.call(this, date, fields, updateMask);
};

const port = parseInt(process.env.PORT || '8181', 10);
const emulator = new FirestoreServer();

emulator.server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error, boundPort) => {
  if (error) {
    console.error(`firestore emulator could not bind 127.0.0.1:${port}: ${error.message}`);
    process.exit(1);
  }
  console.log(`firestore emulator listening on 127.0.0.1:${boundPort}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    emulator.stop();
    process.exit(0);
  });
}
