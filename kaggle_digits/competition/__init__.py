"""The competition's files and facts: train.csv/test.csv loaded and validated (data), the image
shape and classes (digits), the folds (folds), submission.csv written and checked (submission)."""
