#!/usr/bin/env python3
"""Cross-validates deskpilot's embedded classifier and issue 3's peer on the same folds.

The issue's goals are measured on held-out test splits this project does not have, and its
peer figures (scikit-learn TF-IDF word 1-2 + char 2-5 grams, linear SVM or logistic
regression) were measured there. Cross-validation on the training split is pessimistic for
both (each fold trains on 80% of the rows), so the honest estimate for a test figure is our
cross-validated figure plus the peer's gap between its published test figure and its own
cross-validated figure on the same folds. This script produces both cross-validated figures.

    scripts/peer_cv.py --data ../shared/data/banking77/train.jsonl --deskpilot build/deskpilot

Needs python3-sklearn (Debian package; not a build or test dependency). Writes the folds and
models to a temporary directory. `balanced` is the mean per-label recall: what accuracy would
be on a test split with the same number of rows per label (BANKING77's test split has 40 each).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def load(path, field):
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    return [r["text"] for r in rows], [r[field] for r in rows], rows


def peer(name, train_x, train_y, test_x):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_union
    from sklearn.svm import LinearSVC

    vec = make_union(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                     TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True))
    clf = LinearSVC(C=1.0) if name == "peer linear SVM" else LogisticRegression(C=20, max_iter=2000)
    clf.fit(vec.fit_transform(train_x), train_y)
    return list(clf.predict(vec.transform(test_x)))


def ours(binary, train_args, workdir, fold, field, train_path, test_path):
    model = os.path.join(workdir, f"fold{fold}.model")
    subprocess.run([binary, "train", "--data", train_path, "--field", field, "--out", model] + train_args,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = subprocess.run([binary, "eval", "--model", model, "--data", test_path, "--field", field, "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="labelled JSONL (text + label field)")
    ap.add_argument("--field", default="label")
    ap.add_argument("--deskpilot", help="deskpilot binary; omit to run the peer only")
    ap.add_argument("--train-args", default="", help="more `deskpilot train` options, e.g. \"--label-prior training\"")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    try:
        from sklearn.metrics import accuracy_score, balanced_accuracy_score
        from sklearn.model_selection import StratifiedKFold
    except ImportError:
        sys.exit("peer_cv.py needs scikit-learn: apt-get install python3-sklearn")

    texts, labels, rows = load(args.data, args.field)
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=args.seed).split(texts, labels))
    results = {}
    with tempfile.TemporaryDirectory(prefix="peer_cv.") as work:
        for f, (tr, te) in enumerate(folds):
            tx, ty = [texts[i] for i in tr], [labels[i] for i in tr]
            vx, vy = [texts[i] for i in te], [labels[i] for i in te]
            for name in ("peer linear SVM", "peer logistic regression"):
                p = peer(name, tx, ty, vx)
                results.setdefault(name, []).append((accuracy_score(vy, p), balanced_accuracy_score(vy, p), None))
            if args.deskpilot:
                paths = []
                for part, idx in (("train", tr), ("test", te)):
                    paths.append(os.path.join(work, f"{part}{f}.jsonl"))
                    with open(paths[-1], "w", encoding="utf-8") as out:
                        for i in idx:
                            out.write(json.dumps(rows[i]) + "\n")
                e = ours(args.deskpilot, args.train_args.split(), work, f, args.field, *paths)
                results.setdefault("deskpilot", []).append(
                    (e["accuracy"], e["balanced_accuracy"], (e["auto_precision"], e["auto_coverage"])))
            print(f"fold {f + 1}/{args.folds} done", file=sys.stderr, flush=True)

    print(f"{args.folds}-fold CV on {os.path.basename(os.path.dirname(args.data))} ({len(texts)} rows, seed {args.seed})")
    print(f"{'model':<26} {'accuracy':>9} {'balanced':>9}  per-fold accuracy")
    for name, r in results.items():
        acc = sum(x[0] for x in r) / len(r)
        bal = sum(x[1] for x in r) / len(r)
        extra = ""
        if r[0][2] is not None:
            extra = "  at stored threshold: precision %.4f coverage %.4f" % (
                sum(x[2][0] or 0 for x in r) / len(r), sum(x[2][1] for x in r) / len(r))
        print(f"{name:<26} {acc:9.4f} {bal:9.4f}  " + " ".join("%.4f" % x[0] for x in r) + extra)


if __name__ == "__main__":
    main()
