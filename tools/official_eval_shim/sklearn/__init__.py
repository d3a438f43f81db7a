"Local stand-in for scikit-learn (not installable here): only metrics.precision_recall_curve, written from its documentation."
