import { PIPELINES_BY_NAME } from '../../pipelines';
import type { PipelineDefinition } from '../runtime';
import type { PipelineCatalogue } from './worker-runner';

/** The pipelines of `pipelines/`, by name: what `vigil worker` and `vigil demo` can run. */
export function pipelineCatalogue(): PipelineCatalogue {
  // A definition's reading kind matters to its author, not to the worker that runs it.
  return new Map([...PIPELINES_BY_NAME].map(([name, def]) => [name, def as unknown as PipelineDefinition]));
}
