"""Client-side authentication: which credential goes to the gateway, and OAuth2 login.

- :mod:`~nsight_lab.auth.credentials`: the one place that decides what a client sends
  (API key, token file, or the OAuth2 login, renewed as needed), and the advice a 401
  gets.
- :mod:`~nsight_lab.auth.oidc` and :mod:`~nsight_lab.auth.login`: discovery, PKCE, the
  code and device flows, revocation.
- :mod:`~nsight_lab.auth.tokens`: the private token file beside the config.
- :mod:`~nsight_lab.auth.handoff`: giving agents a credential without the refresh token.
"""
