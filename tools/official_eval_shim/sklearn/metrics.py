import os
import numpy as np

OLD = os.environ.get("SHIM_PRC_OLD") == "1"  # old sklearn: stop at the first threshold that reaches full recall


def precision_recall_curve(y_true, probas_pred):
    y = np.asarray(y_true, float)
    s = np.asarray(probas_pred, float)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    ends = np.r_[np.where(np.diff(s))[0], len(s) - 1]  # last index of each run of equal scores
    tps = np.cumsum(y)[ends]
    fps = 1 + ends - tps
    prec = np.divide(tps, tps + fps, out=np.zeros_like(tps), where=(tps + fps) != 0)
    rec = tps / tps[-1] if tps[-1] > 0 else np.ones_like(tps)
    thr = s[ends]
    if OLD:
        last = tps.searchsorted(tps[-1])
        sl = slice(last, None, -1)
    else:
        sl = slice(None, None, -1)
    return np.r_[prec[sl], 1], np.r_[rec[sl], 0], thr[sl]
