//! The config format: defaults, overrides, errors, round trips.

use super::*;

fn parse(text: &str) -> Result<TrainConfig, String> {
    TrainConfig::parse(text, Path::new("test.toml")).map_err(|e| e.to_string())
}

#[test]
fn the_shipped_default_is_the_tutorial() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/default.toml");
    let config = TrainConfig::load(&path).unwrap();
    assert_eq!(config, TrainConfig::default());
    assert_eq!(config.epochs, 5);
    assert_eq!(config.batch_size, 32);
    assert_eq!(config.optimizer.learning_rate(), 1e-3);
    assert_eq!(config.optimizer, OptimizerSection::Adam(Adam::default()));
    let OptimizerSection::Adam(adam) = &config.optimizer else {
        unreachable!()
    };
    assert_eq!(adam.epsilon, 1e-7);
    assert_eq!(config.model.hidden, vec![64, 64]);
}

#[test]
fn missing_keys_take_the_tutorial_values() {
    let config = parse("epochs = 2\n[model]\nactivation = \"tanh\"\n").unwrap();
    assert_eq!(config.epochs, 2);
    assert_eq!(config.model.activation, Activation::Tanh);
    assert_eq!(config.model.hidden, vec![64, 64]);
    assert_eq!(config.optimizer, OptimizerSection::default());
    assert_eq!(parse("").unwrap(), TrainConfig::default());
}

#[test]
fn flags_override_single_keys() {
    let mut config = TrainConfig::default();
    config
        .apply(&Overrides {
            epochs: Some(1),
            batch_size: Some(128),
            lr: Some(0.005),
            seed: Some(7),
            backend: Some(Backend::Ndarray),
            data_dir: Some("idx".into()),
            artifacts: Some("out".into()),
            run_name: Some("quick".into()),
            set: vec![],
        })
        .unwrap();
    assert_eq!(
        (
            config.epochs,
            config.batch_size,
            config.seed,
            config.backend
        ),
        (1, 128, 7, Backend::Ndarray)
    );
    assert_eq!(config.optimizer.learning_rate(), 0.005);
    assert_eq!(config.data_dir, Some(PathBuf::from("idx")));
    assert_eq!(
        (config.artifacts.to_str(), config.run_name.as_str()),
        (Some("out"), "quick")
    );
    // Keys without a flag keep their value.
    assert_eq!(config.model, ModelSection::default());

    let mut untouched = TrainConfig::default();
    untouched.apply(&Overrides::default()).unwrap();
    assert_eq!(untouched, TrainConfig::default());
}

#[test]
fn an_unknown_key_is_named_with_file_and_line() {
    let error = parse("epochs = 1\nepoch = 3\n").unwrap_err();
    assert!(
        error.starts_with("test.toml:2: unknown field `epoch`"),
        "{error}"
    );
    assert!(error.ends_with("(in `epoch = 3`)"), "{error}");
    let error = parse("[model]\ndepth = 3\n").unwrap_err();
    assert!(
        error.contains("test.toml:2: unknown field `depth`"),
        "{error}"
    );
    // A quoted key holding a newline stays on one line, escaped.
    let error = parse("\"a\\nb\" = 1\n").unwrap_err();
    assert!(
        error.starts_with("test.toml:1: unknown field `a\\nb`"),
        "{error}"
    );
    assert!(!error.contains('\n'), "{error}");
}

#[test]
fn a_wrong_type_is_named_with_file_and_key() {
    let error = parse("epochs = \"five\"\n").unwrap_err();
    assert!(
        error.starts_with("test.toml:1: invalid type: string \"five\""),
        "{error}"
    );
    assert!(error.contains("(in `epochs = \"five\"`)"), "{error}");
    let error = parse("[model]\nactivation = \"swish\"\n").unwrap_err();
    assert!(error.contains("unknown variant `swish`"), "{error}");
    assert!(error.contains("activation = \"swish\""), "{error}");
    let error = parse("backend = \"cuda\"\n").unwrap_err();
    assert!(
        error.contains("unknown variant `cuda`, expected one of `flex`, `ndarray`, `wgpu`"),
        "{error}"
    );
    let error = parse("epochs = -1\n").unwrap_err();
    assert!(error.starts_with("test.toml:1:"), "{error}");
}

#[test]
fn out_of_range_values_are_named_with_their_origin() {
    let cases = [
        ("epochs = 0", "test.toml: epochs = 0: expected at least 1"),
        (
            "batch_size = 0",
            "test.toml: batch_size = 0: expected at least 1",
        ),
        (
            "[optimizer]\nlearning_rate = -0.1",
            "test.toml: optimizer.learning_rate = -0.1: expected a finite number above 0",
        ),
        (
            "[optimizer]\nbeta2 = 1.0",
            "test.toml: optimizer.beta2 = 1: expected a number in [0, 1)",
        ),
        (
            "[optimizer]\nepsilon = 0.0",
            "test.toml: optimizer.epsilon = 0: expected a finite number above 0",
        ),
        (
            "[model]\nhidden = [64, 0]",
            "test.toml: model.hidden = [64, 0]: expected at most 64 hidden layers of 1 to 1048576 units",
        ),
        (
            "[model]\nhidden = [1000000000000]",
            "test.toml: model.hidden = [1000000000000]: expected at most",
        ),
        (
            "[model]\ndropout = 1.0",
            "test.toml: model.dropout = 1: expected a rate in [0, 1)",
        ),
        (
            "[optimizer]\nkind = \"sgd\"\nmomentum = 1.5",
            "test.toml: optimizer.momentum = 1.5: expected a number in [0, 1)",
        ),
        (
            "[schedule]\nkind = \"cosine\"\nmin_lr = 0.5",
            "test.toml: schedule.min_lr = 0.5: expected a rate from 0 to optimizer.learning_rate",
        ),
        (
            "epochs = 3\n[schedule]\nwarmup_epochs = 3",
            "test.toml: schedule.warmup_epochs = 3: expected fewer warm-up epochs than epochs",
        ),
        (
            "[validation]\nsplit = 1.0",
            "test.toml: validation.split = 1: expected a fraction in [0, 1)",
        ),
        (
            "run_name = \"../x\"",
            "test.toml: run_name = \"../x\": expected a directory name",
        ),
        (
            "[augment]\nrotation = -5.0",
            "test.toml: augment.rotation = -5: expected degrees from 0 to 180",
        ),
        (
            "[augment]\nscale = 0.9",
            "test.toml: augment.scale = 0.9: expected a fraction from 0 to 0.5",
        ),
        (
            "[augment]\nelastic_alpha = 34.0",
            "test.toml: augment.elastic_sigma = 0: expected a width above 0 when augment.elastic_alpha is set",
        ),
    ];
    for (text, expected) in cases {
        let error = parse(text).unwrap_err();
        assert!(error.starts_with(expected), "{text}: {error}");
    }
    let mut config = TrainConfig::default();
    let error = config
        .apply(&Overrides {
            lr: Some(f64::NAN),
            ..Overrides::default()
        })
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "command line: optimizer.learning_rate = NaN: expected a finite number above 0"
    );
}

#[test]
fn the_resolved_config_round_trips_through_toml() {
    let config = TrainConfig {
        data_dir: Some("some/dir".into()),
        ..TrainConfig::default()
    };
    let text = config.to_toml();
    assert_eq!(parse(&text).unwrap(), config);
}

#[test]
fn set_assigns_any_key_as_toml() {
    let mut config = TrainConfig::default();
    let set = |assignments: &[&str]| Overrides {
        set: assignments.iter().map(|a| a.to_string()).collect(),
        ..Overrides::default()
    };
    config
        .apply(&set(&[
            "model.hidden=[128, 32, 16]",
            "optimizer.kind=sgd",
            "optimizer.momentum=0.9",
            "validation.split=0.1",
            "epochs=3",
        ]))
        .unwrap();
    assert_eq!(config.model.hidden, vec![128, 32, 16]);
    assert_eq!(
        config.optimizer,
        OptimizerSection::Sgd(Sgd {
            momentum: 0.9,
            ..Sgd::default()
        })
    );
    assert_eq!((config.validation.split, config.epochs), (0.1, 3));
    // The held-out images follow the run's seed unless given their own.
    assert_eq!(config.validation.holdout_seed(config.seed), config.seed);
    config
        .apply(&set(&["validation.seed=7", "seed=3"]))
        .unwrap();
    assert_eq!(config.validation.holdout_seed(config.seed), 7);
    assert!(
        config
            .describe_training()
            .ends_with("training set (drawn with seed 7)"),
        "{}",
        config.describe_training()
    );

    let error = |assignment: &str| {
        TrainConfig::default()
            .apply(&set(&[assignment]))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        error("epochs"),
        "--set epochs: expected KEY=VALUE, e.g. optimizer.learning_rate=0.005"
    );
    assert_eq!(
        error("nope.epochs=3"),
        "--set nope.epochs=3: there is no section `nope`"
    );
    assert!(error("model.depth=3").starts_with("--set model.depth=3: unknown field `depth`"));
    assert!(error("epochs=many").contains("invalid type: string \"many\""));
    assert_eq!(
        error("optimizer.momentum=0.9"),
        "--set optimizer.momentum=0.9: optimizer.momentum = 0.9: applies to kind = \"sgd\" only"
    );
}

/// `[augment]` is off unless asked for; then it is written back with the
/// run's config and read again the same, and `--set` reaches it.
#[test]
fn augmentation_is_off_by_default_and_round_trips_when_on() {
    let default = TrainConfig::default();
    assert!(default.augment.is_unset());
    assert!(
        !default.to_toml().contains("[augment]"),
        "{}",
        default.to_toml()
    );
    let config =
        parse("[augment]\nrotation = 10.0\nelastic_alpha = 34.0\nelastic_sigma = 4.0").unwrap();
    assert!(!config.augment.is_unset());
    assert_eq!(config.augment.elastic_sigma, 4.0);
    assert_eq!(parse(&config.to_toml()).unwrap(), config);
    let mut set = TrainConfig::default();
    set.set("augment.translation=2.0").unwrap();
    assert_eq!(set.augment.translation, 2.0);
}

/// A key of another kind is named with the file and the line of its
/// section, and the kind that takes it.
#[test]
fn a_key_of_another_kind_names_the_kind_that_takes_it() {
    let cases = [
        (
            "epochs = 3\n[optimizer]\nmomentum = 0.9",
            "optimizer.momentum = 0.9: applies to kind = \"sgd\" only",
        ),
        (
            "[optimizer]\nweight_decay = 0.1",
            "optimizer.weight_decay = 0.1: applies to kind = \"adamw\" or \"sgd\" only",
        ),
        (
            "[optimizer]\nkind = \"sgd\"\nbeta1 = 0.8",
            "optimizer.beta1 = 0.8: applies to kind = \"adam\" or \"adamw\" only",
        ),
        (
            "[schedule]\ngamma = 0.5",
            "schedule.gamma = 0.5: applies to kind = \"step\" only",
        ),
        (
            "[optimizer]\nkind = \"rmsprop\"",
            "optimizer.kind = \"rmsprop\": expected one of \"adam\", \"adamw\", \"sgd\"",
        ),
    ];
    for (text, expected) in cases {
        let error = parse(text).unwrap_err();
        assert!(error.starts_with("test.toml:"), "{text}: {error}");
        assert!(error.contains(expected), "{text}: {error}");
        assert!(!error.contains('\n'), "{error}");
    }
    // An unknown key is still unknown, with the kind's keys listed.
    let error = parse("[optimizer]\nkind = \"sgd\"\nnesterov = true").unwrap_err();
    assert!(error.contains("unknown field `nesterov`"), "{error}");
}

/// Each kind keeps its own keys through a written config, and switching
/// the kind with `--set` drops the previous kind's keys.
#[test]
fn kinds_round_trip_and_switch() {
    for text in [
        "[optimizer]\nkind = \"adamw\"\nweight_decay = 0.05\n[schedule]\nkind = \"cosine\"\nmin_lr = 0.0001\nwarmup_epochs = 1",
        "[optimizer]\nkind = \"sgd\"\nlearning_rate = 0.1\nmomentum = 0.9\n[schedule]\nkind = \"step\"\nstep_epochs = 2\ngamma = 0.5",
    ] {
        let config = parse(text).unwrap();
        assert_eq!(
            parse(&config.to_toml()).unwrap(),
            config,
            "{}",
            config.to_toml()
        );
    }
    let mut config =
        parse("[optimizer]\nkind = \"sgd\"\nlearning_rate = 0.1\nmomentum = 0.9").unwrap();
    config.set("optimizer.kind=adam").unwrap();
    assert_eq!(
        config.optimizer,
        OptimizerSection::Adam(Adam {
            learning_rate: 0.1,
            ..Adam::default()
        })
    );
    config.set("schedule.kind=step").unwrap();
    assert_eq!(config.schedule.kind, Schedule::Step(Step::default()));
}

/// Every preset in `configs/` and its folders (`configs/committee/`) is a
/// valid config.
#[test]
fn every_shipped_preset_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut folders = vec![dir.clone()];
    let mut presets = 0;
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path
                .extension()
                .is_some_and(|extension| extension == "toml")
            {
                TrainConfig::load(&path).unwrap_or_else(|error| panic!("{error}"));
                presets += 1;
            }
        }
    }
    assert!(presets >= 8, "{presets} presets in {}", dir.display());
}

#[test]
fn adam_s_f32_keys_are_written_as_typed() {
    let config = TrainConfig {
        optimizer: OptimizerSection::Adamw(AdamW::default()),
        ..TrainConfig::default()
    };
    let text = config.to_toml();
    assert!(text.contains("beta1 = 0.9\n"), "{text}");
    assert!(text.contains("beta2 = 0.999\n"), "{text}");
    assert!(
        text.contains("epsilon = 1e-7\n") || text.contains("epsilon = 0.0000001\n"),
        "{text}"
    );
}
