"""Model definitions: float MLP, its Brevitas QAT twin (XGBoost/RandomForest live in train/)."""
