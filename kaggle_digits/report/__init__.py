"""The run report: look at what a run did instead of reading its JSON.

``write_report(run_dir)`` reads a finished run folder (through runload.load_run) -- it never trains -- and
writes, next to the submission:

* ``report/learning_curves.png``   loss and error (1 - accuracy, log axis) per epoch, folds overlaid: train,
                                   and held-out per epoch, or each fold's final held-out score where the run
                                   did not validate per epoch (curves.py; its caption is read from the lines)
* ``report/confusion_matrix.png``  the ensemble's out-of-fold confusion matrix with per-class accuracy
* ``report/oof_errors.png``        the misclassified training digits, worst first (+ ``oof_errors.csv``)
* ``report/low_confidence_test.png`` the test predictions to look at before submitting (+ ``.csv``)
* ``report/augmentation.png``      a few digits and random variants: what training saw
* ``report.html``                  one self-contained page (images embedded) with the results table

The images come back from the data the run was trained on (``data.json`` names it and its SHA-256,
which must match). figures.py draws (``FIGURES``: a new figure is one ``@report_figure`` function there),
page.py writes the page.
"""

from kaggle_digits.report.figures import FIGURES
from kaggle_digits.report.page import write_report

__all__ = ["FIGURES", "write_report"]
