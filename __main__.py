"""The ai-clusters Pulumi program: stack configuration -> specs -> components -> exports.

Everything happens in ai_clusters.program; the offline plan (`ai-clusters plan`) runs this very file
under Pulumi's mocks.
"""

from ai_clusters.program import run, stack_config

run(stack_config())
