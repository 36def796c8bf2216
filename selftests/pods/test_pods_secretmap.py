"""The inventory's secret references mapped onto a target pod's own volumes and env (no cluster needed)."""

from __future__ import annotations

from gvpconf.pods.secretmap import Reference, map_secrets, references

INVENTORY = {"version": 1, "destinations": {
    "activemq": {"username": {"env": "AMQ_USER"}, "password": {"file": "/var/run/secrets/amq/password"},
                 "targets": [{"host": "rs", "port": 61616}]},
    "postgres": {"username": "reader", "password": {"file": "/etc/pg/password"},
                 "tls": {"ca_file": "/etc/pg-ca/ca.crt"}, "targets": [{"host": "pg", "port": 5432}]}}}

POD_SPEC = {
    "volumes": [{"name": "amq", "secret": {"secretName": "gvp-rs-activemq"}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "d"}}],
    "containers": [{"name": "main", "env": [{"name": "AMQ_USER", "valueFrom": {"secretKeyRef": {
        "name": "gvp-rs-activemq", "key": "username"}}}],
                    "volumeMounts": [{"name": "amq", "mountPath": "/var/run/secrets/amq"},
                                     {"name": "data", "mountPath": "/etc/pg"}]}]}


def test_references_are_those_of_the_roles_destinations() -> None:
    assert references(INVENTORY, "mcp") == [Reference("env", "AMQ_USER", "destinations.activemq.username"),
                                            Reference("file", "/var/run/secrets/amq/password",
                                                      "destinations.activemq.password")]
    assert {r.name for r in references(INVENTORY, "configserver")} == {"/etc/pg/password", "/etc/pg-ca/ca.crt"}
    assert len(references(INVENTORY)) == 4


def test_env_and_file_map_to_the_pods_secret_key_ref_and_volume() -> None:
    m = map_secrets(references(INVENTORY, "mcp"), POD_SPEC, "gvp-mcp-0")
    assert m.env == [{"name": "AMQ_USER", "valueFrom": {"secretKeyRef": {"name": "gvp-rs-activemq",
                                                                          "key": "username"}}}]
    assert m.volume_mounts == [{"name": "amq", "mountPath": "/var/run/secrets/amq", "readOnly": True}]
    assert m.volumes == [POD_SPEC["volumes"][0]] and m.unmapped == [] and m.job_problems() == []


def test_what_cannot_be_mapped_is_said_and_a_pvc_is_not_copied_into_a_job() -> None:
    m = map_secrets(references(INVENTORY, "configserver"), POD_SPEC, "gvp-configserver-0")
    assert m.volume_mounts == [{"name": "data", "mountPath": "/etc/pg", "readOnly": True}]
    (line,) = m.unmapped
    assert line.startswith("destinations.postgres.tls.ca_file {file: /etc/pg-ca/ca.crt}: no container of "
                           "gvp-configserver-0 mounts")
    assert m.job_problems() == ["volume data (persistentVolumeClaim) is not copied into the Job: only secret, "
                                "configMap, projected, downwardAPI volumes are"]
    none = map_secrets(references(INVENTORY, "mcp"), {"containers": [{"name": "main"}]}, "p")
    assert len(none.unmapped) == 2 and "no container of p sets AMQ_USER" in none.unmapped[0]


def test_env_from_a_secret_becomes_a_secret_key_ref() -> None:
    spec = {"containers": [{"name": "m", "envFrom": [{"prefix": "AMQ_", "secretRef": {"name": "amq"}}]}]}
    m = map_secrets([Reference("env", "AMQ_USER", "k")], spec, "p")
    assert m.env == [{"name": "AMQ_USER", "valueFrom": {"secretKeyRef": {"name": "amq", "key": "USER",
                                                                          "optional": True}}}]


def test_every_env_from_source_is_tried_in_order_each_optional() -> None:
    """The key may be in any of the envFrom Secrets (the runner cannot read them): one optional secretKeyRef
    per source, in envFrom's order, so the last Secret that has the key wins, as envFrom resolves it, and a
    Secret without it does not stop the container from starting."""
    spec = {"containers": [{"name": "m", "envFrom": [{"secretRef": {"name": "common"}},
                                                     {"configMapRef": {"name": "cfg"}},
                                                     {"prefix": "AMQ_", "secretRef": {"name": "amq"}},
                                                     {"prefix": "X_", "secretRef": {"name": "other"}}]}]}
    m = map_secrets([Reference("env", "AMQ_USER", "k")], spec, "p")
    assert m.env == [
        {"name": "AMQ_USER", "valueFrom": {"secretKeyRef": {"name": "common", "key": "AMQ_USER", "optional": True}}},
        {"name": "AMQ_USER", "valueFrom": {"secretKeyRef": {"name": "amq", "key": "USER", "optional": True}}}]


def test_a_sub_path_mount_is_for_a_job_only() -> None:
    """The API refuses subPath on an ephemeral container: the mount is not in the ephemeral container's
    volumeMounts (a note says why and what to do), only in the Job's."""
    spec = {"volumes": [{"name": "amq", "secret": {"secretName": "gvp-rs-activemq"}}],
            "containers": [{"name": "main", "volumeMounts": [
                {"name": "amq", "mountPath": "/var/run/secrets/amq/password", "subPath": "password"}]}]}
    m = map_secrets([Reference("file", "/var/run/secrets/amq/password", "k")], spec, "p")
    assert m.volume_mounts == [] and m.volumes == [spec["volumes"][0]]
    assert m.job_mounts == [{"name": "amq", "mountPath": "/var/run/secrets/amq/password", "readOnly": True,
                             "subPath": "password"}]
    (line,) = m.ephemeral_problems
    assert "subPath" in line and "mount the whole Secret" in line
