"""The parts of the CloudFormation stack, one module per concern, each a few plain functions
returning template fragments (``parameters()``, ``resources()``, ``outputs()``):

* ``common``: intrinsic-function helpers, roles and the policy statements they are built from;
* ``storage``: the KMS keys and the buckets (lifecycle rules from the dataset registry);
* ``ingestion``: settings, the notification queue, the Lambda functions, the state machines and
  the schedule;
* ``curation``: the PII hash key, the Glue databases, tables, jobs and triggers;
* ``governance``: Lake Formation, the analyst role and the Athena workgroup;
* ``monitoring``: the alarm topic, the alarms and what feeds them.

A role sits next to the part it serves, so a reader checks its grants against that part's code.
``infra/generate.py`` puts them together.
"""
