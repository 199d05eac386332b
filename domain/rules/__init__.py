"""Pure decision functions: policy + facts in, decision + explanation out. No storage here."""
