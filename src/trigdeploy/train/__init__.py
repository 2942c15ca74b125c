"""Training: float MLP, Brevitas QAT MLP, XGBoost BDT and RandomForest from a prepared run."""
