export { REJECTED_TOPIC } from '../../codec';
export { Admission, rejectionRecord, type AdmissionOptions, type AdmissionResult, type Admitted, type Rejected, type AdmittedRecord } from './admission';
export { judgeFrame, type FrameJudgement, type JudgeFrameOptions } from './judge';
export { RateLimiter } from './rate-limiter';
