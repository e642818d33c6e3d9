"""The `gm-soap` adapter: a 国密 province (SOAP, token gateway, SM2/SM3/SM4)."""
