"""States written by real terraform read back through the mount, workspaces included."""
import os

from terraform_helper import Terraform, needs_terraform


@needs_terraform
def test_terraform_written_states_and_workspaces(stack, s3, bucket, mount, tmp_path):
    tf = Terraform(stack, tmp_path / "app", bucket, "team/app/terraform.tfstate")
    tf.init()
    tf.apply(1)
    tf.run("workspace", "new", "staging")
    tf.apply(2)
    other = Terraform(stack, tmp_path / "net", bucket, "team/network/terraform.tfstate")
    other.init()
    other.apply(3)

    m = mount(bucket)
    keys = ["team/app/terraform.tfstate", "env:/staging/team/app/terraform.tfstate",
            "team/network/terraform.tfstate"]
    for key in keys:
        want = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        with open(m.p(key), "rb") as f:
            assert f.read() == want, key
        assert os.stat(m.p(key)).st_size == len(want)
    assert sorted(os.listdir(m.p("env:/staging/team/app"))) == ["terraform.tfstate"]
    # Terraform removed its lock files when done: nothing but states is left.
    assert sorted(os.listdir(m.p("team"))) == ["app", "network"]
