import { VigilError } from './vigil-error';

/**
 * A TLS failure of an MQTT connection as a `VIGIL_E_MQTT_TLS` naming the cause and what to
 * check, or undefined for errors that are not about certificates (then the connection is
 * simply lost, and retried). Shared by the gateway's ingest connection and the device SDK.
 */
export function mqttTlsError(err: NodeJS.ErrnoException, host: string, port: number): VigilError | undefined {
  const code = String(err.code ?? '');
  const at = `MQTT broker ${host}:${port}`;
  let why: string | undefined;
  if (code === 'CERT_HAS_EXPIRED') why = `the broker's certificate has expired`;
  else if (code === 'CERT_NOT_YET_VALID') why = `the broker's certificate is not valid yet (check the clocks)`;
  else if (['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_SIGNATURE_FAILURE'].includes(code)) {
    why = `the broker's certificate is not signed by the CA in mqtt.tls.caFile`;
  } else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') why = `the broker's certificate does not name ${host} (set mqtt.tls.serverName to a name it holds)`;
  else if (/ALERT_CERTIFICATE_REQUIRED/.test(code)) why = 'the broker requires a client certificate: set mqtt.tls.certFile and mqtt.tls.keyFile';
  else if (/ALERT_CERTIFICATE_EXPIRED/.test(code)) why = 'the broker refused our client certificate: it has expired';
  else if (/ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|DECRYPT_ERROR|ACCESS_DENIED)/.test(code)) {
    why = `the broker refused our client certificate (not signed by its CA, or not valid for a client)`;
  } else if (/^ERR_SSL_|^ERR_TLS_|^ERR_OSSL_/.test(code)) why = `TLS handshake failed (${code})`;
  if (why === undefined) return undefined;
  return new VigilError('VIGIL_E_MQTT_TLS', `${at}: ${why}`, { details: { host, port, tlsCode: code }, cause: err });
}
