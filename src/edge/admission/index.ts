export { Admission, rejectionRecord, REJECTED_TOPIC, type AdmissionOptions, type AdmissionResult, type Admitted, type Rejected, type AdmittedRecord } from './admission';
export { RateLimiter } from './rate-limiter';
