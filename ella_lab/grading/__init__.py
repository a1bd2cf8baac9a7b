"""Grade a class's exercise notebooks: ``python -m ella_lab grade SUBMISSIONS... --out DIR``.

Each notebook runs in a fresh kernel of its own process (time and memory bounded), its answers are
re-judged against cases the student never saw, and the class gets ``grades.csv``, ``answers.csv``
and ``report.html``. See the "Grading a class" section of ``notebooks/exercises/README.md``.
"""

from .grade import Grades, grade_submissions
from .report import write_outputs

__all__ = ["Grades", "grade_submissions", "write_outputs"]
