export { REJECTED_TOPIC } from '../../codec';
export { Admission, rejectionRecord, type AdmissionOptions, type AdmissionResult, type Admitted, type Rejected, type AdmittedRecord } from './admission';
export { RateLimiter } from './rate-limiter';
