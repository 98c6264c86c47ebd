"""Classification standards: RFM scores and segment maps, value tiers, ranking, tags, the customer profile."""
