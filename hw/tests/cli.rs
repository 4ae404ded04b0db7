//! The clap definitions are consistent and parse the documented command lines.

use clap::{CommandFactory, Parser};
use panier_hw::certificate::VerifyMode;
use panier_hw::cli::{FlashArgs, HwArgs, HwCommand};
use panier_hw::i18n::Lang;

#[derive(Parser)]
struct Hw {
    #[command(flatten)]
    hw: HwArgs,
}

#[derive(Parser)]
struct Flash {
    #[command(flatten)]
    flash: FlashArgs,
}

#[test]
fn command_lines_parse() {
    Hw::command().debug_assert();
    Flash::command().debug_assert();
    let hw = Hw::parse_from([
        "hw",
        "wipe",
        "/dev/sdb",
        "--verify",
        "full",
        "--yes-i-know",
        "S3YJ",
        "--lang",
        "en",
    ])
    .hw;
    assert_eq!(hw.lang, Lang::En);
    match hw.command {
        HwCommand::Wipe(w) => {
            assert_eq!(w.verify, VerifyMode::Full);
            assert_eq!(w.yes_i_know.as_deref(), Some("S3YJ"));
            assert_eq!(w.device.to_str(), Some("/dev/sdb"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(Hw::parse_from(["hw", "probe", "--json"]).hw.command, HwCommand::Probe(p) if p.json)
    );
    assert_eq!(Hw::parse_from(["hw", "check"]).hw.lang, Lang::Fr);
    match Hw::parse_from(["hw", "capture", "/tmp/m720q", "--anonymize"])
        .hw
        .command
    {
        HwCommand::Capture(c) => {
            assert!(c.anonymize && !c.json && c.dir.to_str() == Some("/tmp/m720q"))
        }
        other => panic!("{other:?}"),
    }
    assert!(
        Hw::try_parse_from(["hw", "capture"]).is_err(),
        "the directory is required"
    );
    let f = Flash::parse_from(["flash", "panier.img", "/dev/sdc", "--yes-i-know", "X1"]).flash;
    assert_eq!(
        (f.image.to_str(), f.device.to_str()),
        (Some("panier.img"), Some("/dev/sdc"))
    );
    assert!(
        Hw::try_parse_from(["hw", "report", "--name", "x"]).is_err(),
        "setup code is required"
    );
}
