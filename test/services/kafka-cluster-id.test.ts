import { clusterId } from '../../scripts/services/kafka';

// Kafka's StorageTool reads a cluster id starting with "-" as an option and refuses to
// format the data dir; 1 in 64 random ids did, and took the whole test run down with it.
describe('the Kafka cluster id the test harness formats with', () => {
  it('is 16 random bytes in base64url, and never starts with "-"', () => {
    const ids = Array.from({ length: 20_000 }, () => clusterId());
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });
});
