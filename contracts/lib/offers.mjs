// Lists the live offers of an OfferRegistry from its events, as a wallet does:
// the newest OfferPublished per station (by nonce), minus stations that withdrew
// later, inside their validity window at `now`, each confirmed with latest().
// Cost: one eth_getLogs per event type over [fromBlock, latest] plus one eth_call
// per station; fine for a local chain or a bounded block range.

/**
 * @param {import('ethers').Contract} registry an ethers Contract with the OfferRegistry ABI
 * @param {object} [o]
 * @param {number|string} [o.fromBlock=0]
 * @param {bigint} [o.now] unix seconds; default: the latest block's timestamp
 * @param {string} [o.token] keep only offers in this token
 * @returns {Promise<Array<{station, payee, token, pricePerKWh, incrementWh, prepaidIncrements,
 *   graceSeconds, validFrom, validUntil, location, endpoint, nonce, offerHash, blockNumber}>>}
 *   sorted by price, then station
 */
export async function listLiveOffers(registry, { fromBlock = 0, now, token } = {}) {
  const provider = registry.runner?.provider ?? registry.runner;
  if (now === undefined) now = BigInt((await provider.getBlock('latest')).timestamp);
  const published = await registry.queryFilter(registry.filters.OfferPublished(), fromBlock);
  const newest = new Map();
  for (const ev of published) {
    const o = ev.args.offer;
    const cur = newest.get(o.station);
    if (!cur || o.nonce > cur.nonce) {
      newest.set(o.station, {
        station: o.station, payee: o.payee, token: o.token, pricePerKWh: o.pricePerKWh,
        incrementWh: Number(o.incrementWh), prepaidIncrements: Number(o.prepaidIncrements),
        graceSeconds: Number(o.graceSeconds), validFrom: o.validFrom, validUntil: o.validUntil,
        location: o.location, endpoint: o.endpoint, nonce: o.nonce, offerHash: ev.args.offerHash,
        blockNumber: ev.blockNumber,
      });
    }
  }
  const out = [];
  for (const o of newest.values()) {
    if (token && o.token.toLowerCase() !== token.toLowerCase()) continue;
    if (!(o.validFrom <= now && now < o.validUntil)) continue;
    const [, , hash] = await registry.latest(o.station); // withdrawn or superseded since?
    if (hash !== o.offerHash) continue;
    out.push(o);
  }
  out.sort((a, b) => (a.pricePerKWh < b.pricePerKWh ? -1 : a.pricePerKWh > b.pricePerKWh ? 1 : a.station.localeCompare(b.station)));
  return out;
}
