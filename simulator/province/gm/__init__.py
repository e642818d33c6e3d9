"""The stand-in's second dialect: a 国密 province (SOAP over a token gateway, SM2/SM3/SM4),
written from `province-gm.md` apart from the device's adapter."""
