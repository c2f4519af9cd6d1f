/**
 * A self-signed certificate for 127.0.0.1 and localhost (valid for a century), so that the Azure simulator's fake
 * Entra ID endpoint can serve HTTPS: MSAL, behind @azure/identity, refuses authorities that are not https. Test use
 * only: trust it per client (core-rest-pipeline `tlsSettings.ca`, undici `connect.ca`, NODE_EXTRA_CA_CERTS for a
 * child process), never system-wide.
 */
export const AZURE_ENTRA_SIM_CERT = `-----BEGIN CERTIFICATE-----
MIIBtDCCAVmgAwIBAgIUbckN4aOHvfXab1W/AEAR18iGWtEwCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVYXp1cmUtZW50cmEtc2ltdWxhdG9yMCAXDTI2MTIwNjIyMDc1
MloYDzIxMjYxMTEyMjIwNzUyWjAgMR4wHAYDVQQDDBVhenVyZS1lbnRyYS1zaW11
bGF0b3IwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQQzR39gK5pis42iB44FZYP
u/2zgpa4dM4vMJQAB5v1fcLOl0eX8V0HzFM7kNMJRqTa1Y1yHTYnXQZIJoUzkoWR
o28wbTAdBgNVHQ4EFgQUWgy/g1qTkfIyrVaxjddshTzadZQwHwYDVR0jBBgwFoAU
Wgy/g1qTkfIyrVaxjddshTzadZQwDwYDVR0TAQH/BAUwAwEB/zAaBgNVHREEEzAR
hwR/AAABgglsb2NhbGhvc3QwCgYIKoZIzj0EAwIDSQAwRgIhAMDzDyRZs+BrrmUr
+CTf0h1K/ZAP8uecYfw1l1/ZTAB/AiEA5Vzyay3nsGhDO1gIRXYufwbVU4rJmwHW
L4C9+HU+8ZM=
-----END CERTIFICATE-----
`;

export const AZURE_ENTRA_SIM_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgVCKqc4yKUoL7msDL
qee3LnsHYYLq17ZIhSIyG+JVJduhRANCAAQQzR39gK5pis42iB44FZYPu/2zgpa4
dM4vMJQAB5v1fcLOl0eX8V0HzFM7kNMJRqTa1Y1yHTYnXQZIJoUzkoWR
-----END PRIVATE KEY-----
`;
