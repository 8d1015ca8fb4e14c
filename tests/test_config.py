import pytest
import yaml

from untwine.config import TrainConfig
from untwine.errors import ConfigError


def flat(**kw):
    base = dict(dataset="test-squares", method="betavae", steps=10, out="r")
    base.update(kw)
    return TrainConfig.from_flat(**base)


def test_flat_settings_reach_their_sections():
    cfg = flat(beta=6, z_dim=7, lr=1e-3, batch_size=32, seed=3, free_bits=0.5)
    assert cfg.method.beta == 6 and cfg.method.free_bits == 0.5
    assert cfg.model.z_dim == 7
    assert cfg.optim.lr == 1e-3 and cfg.optim.batch_size == 32
    assert cfg.seed == 3


def test_yaml_round_trip_is_lossless(tmp_path):
    cfg = flat(method="annealedvae", c_max=10, gamma=500)
    cfg.save(tmp_path / "config.yaml")
    again = TrainConfig.load(tmp_path / "config.yaml")
    assert again == cfg
    assert type(again.method).__name__ == "AnnealedVAEParams"


def test_defaults_follow_locatello_et_al():
    cfg = flat()
    assert (cfg.optim.lr, cfg.optim.batch_size, cfg.optim.adam_beta1, cfg.optim.adam_beta2) == (
        1e-4,
        64,
        0.9,
        0.999,
    )
    assert cfg.model.z_dim == 10 and cfg.model.likelihood == "bernoulli"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(beta=-1), r"method\.beta: Input should be greater than or equal to 0 \(got -1\)"),
        (dict(method="nope"), r"unknown method 'nope'; expected one of: .*betavae"),
        (dict(bta=2), r"unknown setting\(s\) 'bta' for method 'betavae'; allowed: .*beta"),
        (dict(likelihood="poisson"), r"unknown likelihood 'poisson'; expected one of: bernoulli, "),
        (dict(network="resnet"), r"unknown network 'resnet'; expected one of: auto, conv64"),
        (dict(steps=0), r"steps: Input should be greater than or equal to 1"),
    ],
)
def test_bad_settings_name_the_field_and_allowed_values(settings, message):
    with pytest.raises(ConfigError, match=message):
        flat(**settings)


def test_unknown_keys_in_a_config_file_are_errors(tmp_path):
    doc = yaml.safe_load(flat().to_yaml())
    doc["optim"]["momentum"] = 0.9
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=r"config.yaml: unknown key 'optim.momentum'"):
        TrainConfig.load(path)


def test_method_keys_are_validated_against_that_method(tmp_path):
    doc = yaml.safe_load(flat().to_yaml())
    doc["method"]["c_max"] = 5  # an annealedvae setting given to betavae
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=r"unknown key 'method.c_max'"):
        TrainConfig.load(path)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        TrainConfig.load(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("steps: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        TrainConfig.load(tmp_path / "bad.yaml")


def test_unknown_dataset_is_reported_before_anything_is_written(tmp_path):
    import untwine

    expected = r"unknown dataset 'mnist'; expected one of: .*test-squares"
    with pytest.raises(ConfigError, match=expected):
        untwine.train("mnist", method="vae", steps=1, out=tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()
