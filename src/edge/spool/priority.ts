import type { SpoolPriority } from './spool';

/** Priority classes, most urgent first: the drain order. */
export const SPOOL_PRIORITIES: readonly SpoolPriority[] = Object.freeze(['flash', 'immediate', 'routine']);

/** Numeric rank of a class: 0 = flash (drains first, shed never), 2 = routine (shed first). */
export type PriorityRank = 0 | 1 | 2;

export const FLASH: PriorityRank = 0;
export const IMMEDIATE: PriorityRank = 1;
export const ROUTINE: PriorityRank = 2;

/** The rank of a class, or -1 for something that is not a class (so callers can reject it). */
export function priorityRank(priority: unknown): PriorityRank | -1 {
  switch (priority) {
    case 'flash':
      return FLASH;
    case 'immediate':
      return IMMEDIATE;
    case 'routine':
      return ROUTINE;
    default:
      return -1;
  }
}

export function priorityOfRank(rank: PriorityRank): SpoolPriority {
  return SPOOL_PRIORITIES[rank] as SpoolPriority;
}
