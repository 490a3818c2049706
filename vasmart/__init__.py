"""vasmart: VAS data warehouse and precision-marketing pipeline."""
