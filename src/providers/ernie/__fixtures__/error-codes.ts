/** ERNIE v1 `error_code` → the gateway error it must become (spec §2a error table, §4.6, §4.7). */
export interface ErrorCodeFixture {
  errorCode: number;
  errorMsg: string;
  status: number;
  type: string;
  code: string;
  retryable: boolean;
}

const row = (errorCode: number, errorMsg: string, status: number, type: string, code: string, retryable: boolean) => ({
  errorCode,
  errorMsg,
  status,
  type,
  code,
  retryable,
});

export const errorCodeFixtures: ErrorCodeFixture[] = [
  row(1, 'Unknown error', 500, 'server_error', 'upstream_error', true),
  row(2, 'Service temporarily unavailable', 503, 'server_error', 'overloaded', true),
  row(3, 'Unsupported openapi method', 404, 'invalid_request_error', 'model_not_found', false),
  row(4, 'Open api request limit reached', 503, 'server_error', 'overloaded', true),
  row(6, 'No permission to access data', 403, 'permission_error', 'upstream_permission_denied', false),
  row(13, 'Get service token failed', 502, 'server_error', 'upstream_auth_error', false),
  row(14, 'IAM Certification failed', 502, 'server_error', 'upstream_auth_error', false),
  row(15, 'app not exists or create failed', 500, 'server_error', 'upstream_error', true),
  row(17, 'Open api daily request limit reached', 429, 'insufficient_quota', 'insufficient_quota', false),
  row(18, 'Open api qps request limit reached', 429, 'rate_limit_exceeded', 'rate_limit_exceeded', true),
  row(19, 'Open api total request limit reached', 429, 'insufficient_quota', 'insufficient_quota', false),
  row(100, 'Invalid parameter', 502, 'server_error', 'upstream_auth_error', false),
  row(110, 'Access token invalid or no longer valid', 502, 'server_error', 'upstream_auth_error', false),
  row(111, 'Access token expired', 502, 'server_error', 'upstream_auth_error', false),
  row(336000, 'Internal error', 500, 'server_error', 'upstream_error', true),
  row(336001, 'Invalid Argument', 400, 'invalid_request_error', 'invalid_request', false),
  row(336002, 'Invalid JSON', 400, 'invalid_request_error', 'invalid_request', false),
  row(336003, 'the length of messages must be an odd number', 400, 'invalid_request_error', 'invalid_request', false),
  row(336004, 'Permission error', 403, 'permission_error', 'upstream_permission_denied', false),
  row(336005, 'API name not exist', 404, 'invalid_request_error', 'model_not_found', false),
  row(336006, 'the length of messages must be an odd number', 400, 'invalid_request_error', 'invalid_request', false),
  row(
    336007,
    'the max length of current question is 2000',
    400,
    'invalid_request_error',
    'context_length_exceeded',
    false,
  ),
  row(336100, 'try again later', 503, 'server_error', 'overloaded', true),
  row(336101, 'invalid HTTP method', 400, 'invalid_request_error', 'invalid_request', false),
  row(336103, 'the sum of prompt tokens is too long', 400, 'invalid_request_error', 'context_length_exceeded', false),
  row(336104, 'invalid system', 400, 'invalid_request_error', 'invalid_request', false),
  row(336105, 'invalid user_setting', 400, 'invalid_request_error', 'invalid_request', false),
  row(336501, 'RPM limit reached', 429, 'rate_limit_exceeded', 'rate_limit_exceeded', true),
  row(336502, 'TPM limit reached', 429, 'rate_limit_exceeded', 'rate_limit_exceeded', true),
  row(500000, 'console internal error', 500, 'server_error', 'upstream_error', true),
  row(999999, 'something new', 500, 'server_error', 'upstream_error', true),
];
