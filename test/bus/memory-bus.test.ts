import { MemoryBroker, MemoryBus, type Bus } from '../../src/bus';
import { busContract } from './bus.contract';

const broker = new MemoryBroker();
const down = new MemoryBroker();
down.setAvailable(false);

busContract('memory', {
  create: () => new MemoryBus({ broker }),
  unreachable: () => new MemoryBus({ broker: down }),
  compactedView: (bus: Bus, topic: string) => (bus as MemoryBus).compactedView(topic),
  patienceMs: 2000,
});
