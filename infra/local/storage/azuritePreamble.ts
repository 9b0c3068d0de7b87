/**
 * Query planning for LokiJS, the in-memory database behind Azurite's metadata, as a function
 * expression taking the `lokijs` module (source text: it runs in Azurite's process).
 *
 * Azurite looks a blob up with `findOne({accountName, containerName, name, snapshot})` (on every
 * write, read and SAS check) and a queue message with `{accountName, queueName, messageId}`. Loki
 * uses an index only for the first property of such a query, and `accountName` is the same for
 * every document, so each lookup compared every blob in the account: with 20,000 task logs that
 * was 10 ms per lookup, most of Azurite's time on a 10,000-task job (CPU profile: Loki's `$eq`
 * and `Resultset.find` under `getBlobType` and `createBlob`). This makes an AND of equalities
 * start from the indexed equality matching the fewest documents (two binary searches each), as a
 * database's planner would. The result is the same set; its order is that index's, as when the
 * narrowest property is written first.
 */
export const LOKI_PLANNER = `(Loki) => {
  const Resultset = Loki.Resultset;
  const findAnd = Resultset.prototype.findAnd;
  if (typeof findAnd !== 'function' || typeof Loki.Collection?.prototype?.calculateRange !== 'function') return false;
  const equalTo = (expression) => {
    const keys = Object.keys(expression);
    if (keys.length !== 1 || keys[0].includes('.') || keys[0].startsWith('$')) return undefined;
    const wanted = expression[keys[0]];
    if (wanted === null || typeof wanted !== 'object') return { property: keys[0], value: wanted };
    const ops = Object.keys(wanted);
    if (ops.length === 1 && ops[0] === '$eq' && (wanted.$eq === null || typeof wanted.$eq !== 'object')) {
      return { property: keys[0], value: wanted.$eq };
    }
    return undefined;
  };
  // A query object of several properties reaches findAnd as $and, an alias taken at definition.
  Resultset.prototype.findAnd = Resultset.prototype.$and = function (expressions) {
    const collection = this.collection;
    if (this.filterInitialized || !Array.isArray(expressions) || expressions.length < 2 || collection.data.length === 0) {
      return findAnd.call(this, expressions);
    }
    let best = -1;
    let fewest = Infinity;
    for (let i = 0; i < expressions.length; i++) {
      const eq = equalTo(expressions[i]);
      const index = eq && collection.binaryIndices[eq.property];
      if (!index || index.dirty || collection.adaptiveBinaryIndices !== true) continue;
      const [from, to] = collection.calculateRange('$eq', eq.property, eq.value);
      const count = to >= from ? to - from + 1 : 0;
      if (count < fewest) {
        fewest = count;
        best = i;
      }
    }
    if (best <= 0) return findAnd.call(this, expressions);
    return findAnd.call(this, [expressions[best], ...expressions.filter((_, i) => i !== best)]);
  };
  return true;
}`;

// Azurite's own CLI does the work; this preamble makes it shut down cleanly (saving its
// database) when the runtime that started it goes away, even after a SIGKILL, and lets it exit
// once its servers close (an IPC channel would otherwise keep it alive).
//
// It also mends Azurite's extent garbage collection, which froze every Azurite service for 40-75 s
// once a minute under queue traffic (CPU profile: all in loki's index sort). Each queue message is
// an extent; the GC deletes extents one at a time with findAndRemove, which flags the collection's
// binary index dirty so the next lookup re-sorts the whole collection: quadratic in the extents
// deleted. findOne + remove of one document updates the index in place instead. And it plans
// Loki's queries (above). If an Azurite upgrade moves a module, that patch is skipped and Azurite
// runs as shipped.
/** The script Azurite's process runs before Azurite itself (`node -e`). */
export const AZURITE_PREAMBLE = `
process.channel?.unref();
process.on('disconnect', () => {
  process.emit('SIGINT');
  setTimeout(() => process.exit(0), 5000);
});
process.argv.splice(1, 0, 'azurite');
const azuriteDir = require('node:path').dirname(process.env.CLOUDJOBS_AZURITE_BIN);
try {
  const store = require(require('node:path').join(azuriteDir, 'common/persistence/LokiExtentMetadataStore.js')).default;
  if (typeof store?.prototype?.deleteExtent === 'function') {
    store.prototype.deleteExtent = async function (extentId) {
      const extents = this.db.getCollection(this.EXTENTS_COLLECTION);
      const doc = extents.findOne({ id: extentId });
      if (doc) extents.remove(doc);
    };
  }
} catch {}
try {
  (${LOKI_PLANNER})(require(require.resolve('lokijs', { paths: [azuriteDir] })));
} catch {}
require(process.env.CLOUDJOBS_AZURITE_BIN);
`;
