"""The benefitpool domain: value objects, policies, pure rules and aggregates."""
