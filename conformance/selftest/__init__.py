"""The mutation self-test: does the suite fail against a runtime that breaks a contract?

`cri-conformance selftest` runs the suite through the fault-injecting proxy
(cri_conformance.fixtures.proxy) once clean and once per fault of the
catalogue, and reports which faults the suite catches, in which tests, and
the mutation score. engine.py drives it; plan.py picks the tests per fault;
runner.py runs pytest; verdict.py judges; report.py writes the result.
"""
