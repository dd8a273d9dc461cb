export { createCa, issueCertificate, commonName, PKI_ROLES, PKI_ALGORITHMS, type PkiRole, type PkiAlgorithm, type IssuedCertificate, type CaOptions, type IssueOptions, type CaMaterial } from './pki';
