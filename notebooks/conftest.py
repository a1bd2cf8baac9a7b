"""nbval settings for the notebooks: stderr (logging, progress bars, warnings) is not compared.

The test run is strict about measured claims (``ella_lab.claims``): a claim that misses fails its cell,
where a learner would see a box. Kernels inherit this process's environment, so setting it here covers
every notebook nbval runs, whoever starts pytest.
"""

import os

os.environ["ELLA_LAB_CLAIMS"] = "strict"


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)
