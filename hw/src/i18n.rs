//! The message catalog: every sentence shown to people, in French (the default) and English.
//!
//! Invariant: the `catalog!` macro makes a message without both languages a compile
//! error; a test checks that both templates use the same `{placeholders}`.
//! Technical notes from the probe (why a source could not be read) stay in English: they
//! are for technicians and quoted as-is.

use std::fmt::Display;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Fr,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }
}

macro_rules! catalog {
    ($($key:ident => $fr:literal, $en:literal;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        pub enum Msg { $($key),* }
        impl Msg {
            pub const ALL: &'static [Msg] = &[$(Msg::$key),*];
            pub fn template(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((Msg::$key, Lang::Fr) => $fr, (Msg::$key, Lang::En) => $en,)*
                }
            }
        }
    };
}

/// Renders a message, replacing each `{name}` with its argument.
pub fn tr(lang: Lang, msg: Msg, args: &[(&str, &dyn Display)]) -> String {
    let mut text = msg.template(lang).to_string();
    for (name, value) in args {
        text = text.replace(&format!("{{{name}}}"), &value.to_string());
    }
    text
}

catalog! {
    VerdictFit => "apte", "fit";
    VerdictFitWithNotes => "apte, avec remarques", "fit, with notes";
    VerdictUnfit => "inapte", "unfit";
    SeverityBlocker => "bloquant", "blocker";
    SeverityNote => "remarque", "note";
    SeverityInfo => "info", "info";
    NotX86_64 => "Le processeur n'est pas 64 bits (x86-64) : Panier ne peut pas s'y installer.", "The CPU is not 64-bit (x86-64): Panier cannot be installed.";
    RamTooLow => "Mémoire insuffisante : {ram} (2 Go au minimum).", "Not enough memory: {ram} (2 GB minimum).";
    RamBelowRecommended => "Mémoire : {ram}. Ça fonctionne, mais 4 Go sont conseillés pour plusieurs services.", "Memory: {ram}. It works, but 4 GB are recommended for several services.";
    RamUnknown => "Taille de la mémoire inconnue.", "Memory size unknown.";
    NoDisk => "Aucun disque interne détecté.", "No internal disk found.";
    DiskTooSmall => "Le disque {disk} est trop petit : {size} (32 Go au minimum).", "Disk {disk} is too small: {size} (32 GB minimum).";
    DiskFailing => "Le disque {disk} se déclare défaillant (SMART) : à remplacer.", "Disk {disk} reports itself as failing (SMART): replace it.";
    DiskCriticalWarning => "Le disque NVMe {disk} signale un avertissement critique (code {code}) : à remplacer.", "NVMe disk {disk} raises a critical warning (code {code}): replace it.";
    DiskWornOut => "Le disque {disk} a dépassé sa durée de vie prévue ({pct} % utilisés) : à remplacer.", "Disk {disk} is past its rated life ({pct}% used): replace it.";
    DiskWearHigh => "Le disque {disk} est usé à {pct} % : prévoir son remplacement.", "Disk {disk} is {pct}% worn: plan its replacement.";
    DiskBadSectors => "Le disque {disk} a des secteurs défectueux ({reallocated} réalloués, {pending} en attente) : à surveiller.", "Disk {disk} has bad sectors ({reallocated} reallocated, {pending} pending): keep an eye on it.";
    DiskManyBadSectors => "Le disque {disk} a trop de secteurs défectueux ({reallocated} réalloués, {pending} en attente) : à remplacer.", "Disk {disk} has too many bad sectors ({reallocated} reallocated, {pending} pending): replace it.";
    DiskMediaErrors => "Le disque {disk} a enregistré {count} erreurs de lecture : à surveiller.", "Disk {disk} logged {count} media errors: keep an eye on it.";
    DiskOldHdd => "Le disque dur {disk} a tourné {hours} heures : prévoir un SSD.", "Hard disk {disk} has run for {hours} hours: plan an SSD.";
    DiskHealthUnknown => "Santé du disque {disk} inconnue (pas de données SMART).", "Health of disk {disk} unknown (no SMART data).";
    DiskIsHdd => "{disk} est un disque dur mécanique : ça fonctionne, mais un SSD rendra la box bien plus rapide.", "{disk} is a spinning hard disk: it works, but an SSD will make the box much faster.";
    NoWiredNic => "Aucune carte réseau filaire : Panier a besoin d'un port Ethernet.", "No wired network interface: Panier needs an Ethernet port.";
    WiredNoLink => "Le port réseau {nic} n'est pas branché (pas de lien).", "Network port {nic} is not connected (no link).";
    LegacyBios => "La machine a démarré en mode BIOS (legacy) : c'est pris en charge, l'UEFI est préférable.", "The machine booted in legacy BIOS mode: supported, UEFI is preferable.";
    NoAes => "Pas d'instructions AES : les sauvegardes chiffrées seront plus lentes.", "No AES instructions: encrypted backups will be slower.";
    CpuHot => "Processeur à {temp} °C au repos : nettoyer le ventilateur et la pâte thermique.", "CPU at {temp} °C at rest: clean the fan and renew the thermal paste.";
    BatteryWorn => "Batterie usée ({pct} % de sa capacité d'origine) : elle ne tiendra pas une coupure.", "Worn battery ({pct}% of its design capacity): it will not ride out a power cut.";
    ModelKnown => "Modèle connu : {model}.", "Known model: {model}.";
    ModelUnknown => "Modèle absent de la base des modèles connus : vérifier les réglages du BIOS à la main.", "Model not in the known-models database: check the BIOS settings by hand.";
    ProbePartial => "Information partielle : {note}", "Partial information: {note}";
    WipeStart => "Effacement de {disk} ({model})…", "Wiping {disk} ({model})…";
    WipeTrying => "Méthode du disque : {method}…", "Disk's own method: {method}…";
    WipeMethodFailed => "{method} a échoué ({reason}) : méthode suivante.", "{method} failed ({reason}): next method.";
    WipeFirmwareNotZero => "{method} terminé mais le disque ne se relit pas à zéro : réécriture complète.", "{method} done but the disk does not read back as zeros: full overwrite.";
    WipeNoNvmeCaps => "{disk} : capacités NVMe illisibles, effacement par réécriture.", "{disk}: NVMe capabilities unreadable, erasing by overwrite.";
    WipeAtaUnsupported => "{disk} : pas d'effacement sécurisé ATA, effacement par réécriture.", "{disk}: no ATA secure erase, erasing by overwrite.";
    WipeAtaFrozen => "{disk} : l'effacement sécurisé ATA est gelé par le BIOS (mettre la machine en veille puis la réveiller, ou rebrancher le disque à chaud, permet de le dégeler) ; effacement par réécriture.", "{disk}: ATA secure erase is frozen by the BIOS (a suspend/resume or hot-plugging the disk unfreezes it); erasing by overwrite.";
    WipeAtaLocked => "{disk} : le disque est protégé par un mot de passe ATA ; effacement par réécriture.", "{disk}: the disk has an ATA password set; erasing by overwrite.";
    WipeDiscarded => "{disk} : blocs libérés (discard).", "{disk}: blocks discarded.";
    WipeOverwriteProgress => "{disk} : réécriture {pct} %", "{disk}: overwrite {pct}%";
    WipeSanitizeProgress => "{disk} : effacement par le contrôleur {pct} %", "{disk}: sanitize by the controller {pct}%";
    WipeVerifying => "{disk} : vérification…", "{disk}: verifying…";
    WipeDone => "Effacement vérifié. Certificat : {json} et {html}", "Wipe verified. Certificate: {json} and {html}";
    WipeNotVerified => "ÉCHEC : le disque ne se relit pas à zéro (octet {offset}). Certificat : {json}", "FAILED: the disk does not read back as zeros (byte {offset}). Certificate: {json}";
    ConfirmPrompt => "TOUT le contenu de {disk} ({model}, {size}) va être détruit.\nTapez le numéro de série du disque pour confirmer ({serial}) : ", "EVERYTHING on {disk} ({model}, {size}) will be destroyed.\nType the disk's serial number to confirm ({serial}): ";
    ConfirmNeeded => "Confirmation requise : lancez la commande dans un terminal, ou passez --yes-i-know {serial}.", "Confirmation needed: run the command in a terminal, or pass --yes-i-know {serial}.";
    CertTitle => "Certificat d'effacement de disque", "Disk wipe certificate";
    CertPassed => "Effacement vérifié : le disque se relit entièrement à zéro aux endroits contrôlés.", "Wipe verified: the disk reads back as zeros wherever checked.";
    CertFailed => "Effacement NON vérifié.", "Wipe NOT verified.";
    CertVerifySample => "par échantillonnage", "by sampling";
    CertVerifyFull => "lecture complète", "full read";
    LabelModel => "Modèle", "Model";
    LabelSerial => "Numéro de série", "Serial number";
    LabelSize => "Capacité", "Size";
    LabelDevice => "Périphérique", "Device";
    LabelMethod => "Méthode", "Method";
    LabelStarted => "Début", "Started";
    LabelEnded => "Fin", "Ended";
    LabelVerification => "Vérification", "Verification";
    LabelCertificateId => "Identifiant du certificat", "Certificate id";
    LabelMachine => "Machine", "Machine";
    LabelFirmware => "Micrologiciel", "Firmware";
    LabelCpu => "Processeur", "CPU";
    LabelMemory => "Mémoire", "Memory";
    LabelDisks => "Disques", "Disks";
    LabelNetwork => "Réseau", "Network";
    LabelVerdict => "Verdict", "Verdict";
    LabelBoxName => "Nom de la box", "Box name";
    LabelAddress => "Adresse", "Address";
    LabelSetupCode => "Code d'installation", "Setup code";
    LabelDate => "Date", "Date";
    LabelTemperature => "Température du processeur", "CPU temperature";
    LabelBattery => "Batterie", "Battery";
    WordUnknown => "inconnu", "unknown";
    WordLegacyBios => "BIOS (ancien mode)", "BIOS (legacy)";
    WordSecureBootOn => "Secure Boot activé", "Secure Boot on";
    WordSecureBootOff => "Secure Boot désactivé", "Secure Boot off";
    WordNot64Bit => "pas 64 bits", "not 64-bit";
    WordSerial => "n° de série", "serial number";
    WordSystemDisk => "disque système", "system disk";
    WordWired => "filaire", "wired";
    WordWireless => "sans fil", "wireless";
    WordCableConnected => "câble branché", "cable connected";
    WordCableUnplugged => "câble débranché", "cable unplugged";
    WordConnected => "connecté", "connected";
    WordNotConnected => "non connecté", "not connected";
    CpuCounts => "{cores} cœurs, {threads} fils", "{cores} cores, {threads} threads";
    DiskHdd => "disque dur (HDD)", "hard disk (HDD)";
    DiskSataSsd => "SSD SATA", "SATA SSD";
    DiskNvme => "SSD NVMe", "NVMe SSD";
    DiskUsb => "disque USB", "USB disk";
    DiskEmmc => "eMMC", "eMMC";
    DiskOther => "autre disque", "other disk";
    SmartUnknown => "SMART inconnu", "SMART unknown";
    SmartFailed => "EN ÉCHEC", "FAILED";
    SmartHours => "{hours} h de fonctionnement", "{hours} power-on hours";
    SmartReallocated => "{n} secteurs réalloués", "{n} reallocated sectors";
    SmartPending => "{n} secteurs en attente", "{n} pending sectors";
    SmartWear => "usure {pct} %", "{pct}% worn";
    BatteryLine => "chargée à {charge} %, santé {health} %", "{charge}% charged, health {health}%";
    MethodNvmeSanitizeCrypto => "NVMe sanitize (effacement cryptographique)", "NVMe sanitize (crypto erase)";
    MethodNvmeSanitizeBlock => "NVMe sanitize (effacement des blocs)", "NVMe sanitize (block erase)";
    MethodNvmeFormatCrypto => "formatage NVMe (effacement cryptographique)", "NVMe format (crypto erase)";
    MethodNvmeFormatUserData => "formatage NVMe (effacement des données)", "NVMe format (user data erase)";
    MethodAtaSecureEraseEnhanced => "effacement sécurisé ATA renforcé", "ATA enhanced security erase";
    MethodAtaSecureErase => "effacement sécurisé ATA", "ATA security erase";
    MethodDiscardAndOverwrite => "libération des blocs + réécriture à zéro", "discard + zero overwrite";
    ReportTitle => "Fiche de reconditionnement", "Refurbishment sheet";
    ReportLabelTitle => "Étiquette de la box", "Box label";
    ReportLabelHint => "Branchez la box au réseau puis ouvrez son adresse depuis un ordinateur ; le code d'installation est demandé une seule fois.", "Plug the box into the network, then open its address from a computer; the setup code is asked for once.";
    ReportNoCertificate => "Aucun certificat d'effacement pour les disques de cette machine.", "No wipe certificate for this machine's disks.";
    ReportWritten => "Fiche écrite : {html} ; inventaire : {csv}", "Sheet written: {html}; inventory: {csv}";
    CaptureWritten => "Capture écrite dans {dir} : {files} fichiers, {commands} commandes.", "Capture written to {dir}: {files} files, {commands} commands.";
    CaptureContains => "Elle contient les numéros de série de la machine, des disques et des barrettes mémoire, les adresses MAC et la table des montages ; aucun fichier des disques. --anonymize remplace les numéros de série et les adresses MAC.", "It holds the serial numbers of the machine, its disks and memory modules, the MAC addresses and the mount table; no file from the disks. --anonymize replaces the serial numbers and MAC addresses.";
    CaptureAnonymized => "Numéros de série et adresses MAC remplacés ; restent la marque, le modèle, les identifiants WWN/EUI des disques et la table des montages.", "Serial numbers and MAC addresses replaced; the make, the model, the disks' WWN/EUI identifiers and the mount table remain.";
    CaptureMismatch => "ATTENTION : la capture relue ne donne pas le même résultat que la machine ({parts}).", "WARNING: the capture, read back, does not give the same result as the machine ({parts}).";
    StMemory => "Mémoire", "Memory";
    StDiskRead => "Lecture du disque {disk}", "Disk read {disk}";
    StSmart => "Auto-test SMART {disk}", "SMART self-test {disk}";
    StCpu => "Processeur en charge", "CPU under load";
    StNic => "Lien réseau {nic}", "Network link {nic}";
    StPass => "réussi", "pass";
    StFail => "ÉCHEC", "FAIL";
    StSkipped => "non fait", "skipped";
    StMemoryPattern => "Mémoire : motif {pattern} sur {size}…", "Memory: pattern {pattern} over {size}…";
    StMemoryErrors => "{count} erreurs mémoire (premier écart à l'octet {offset})", "{count} memory errors (first mismatch at byte {offset})";
    StDiskReadResult => "{bytes} lus en {secs} s ({mbps} Mo/s)", "{bytes} read in {secs} s ({mbps} MB/s)";
    StDiskReadError => "erreur de lecture à l'octet {offset} : {error}", "read error at byte {offset}: {error}";
    StSmartStarted => "{disk} : auto-test SMART court lancé (environ {minutes} min)…", "{disk}: short SMART self-test started (about {minutes} min)…";
    StSmartRunning => "{disk} : auto-test en cours, {pct} % restants…", "{disk}: self-test running, {pct}% remaining…";
    StSmartTimeout => "pas de résultat après {secs} s", "no result after {secs} s";
    StSmartNotSupported => "le disque ne sait pas faire d'auto-test", "the disk has no self-test";
    StCpuProgress => "Processeur : {secs} s, {temp}", "CPU: {secs} s, {temp}";
    StCpuResult => "{secs} s sur {threads} fils, température max {temp}", "{secs} s on {threads} threads, max temperature {temp}";
    StCpuTooHot => "température {temp} : refroidissement insuffisant", "temperature {temp}: insufficient cooling";
    StNoSensor => "pas de capteur de température", "no temperature sensor";
    StNicLinkUp => "lien à {speed} Mb/s", "link at {speed} Mb/s";
    StNicNoLink => "pas de lien (câble branché ?)", "no link (cable plugged in?)";
    StSummary => "Bilan : {passed} réussis, {failed} en échec, {skipped} non faits.", "Summary: {passed} passed, {failed} failed, {skipped} skipped.";
    FlashStart => "Écriture de {image} ({size}) sur {disk}…", "Writing {image} ({size}) to {disk}…";
    FlashProgress => "{disk} : écriture {pct} %", "{disk}: writing {pct}%";
    FlashVerifying => "{disk} : relecture et comparaison de la somme de contrôle…", "{disk}: reading back and comparing the checksum…";
    FlashDone => "Image écrite et vérifiée (SHA-256 {sha256}).", "Image written and verified (SHA-256 {sha256}).";
    InstallChecking => "Vérification du disque source {source} et du disque cible {target}…", "Checking the source disk {source} and the target disk {target}…";
    InstallClearing => "{disk} : effacement de l'ancienne table de partitions…", "{disk}: clearing the old partition table…";
    InstallProvisioning => "Partition EFI : nom de la box {name}, code d'installation, démarrage sur le système A…", "EFI partition: box name {name}, setup code, boot from system A…";
    InstallCopying => "{disk} : copie de {partition} ({size})…", "{disk}: copying {partition} ({size})…";
    InstallZeroing => "{disk} : mise à zéro de {partition} ({size})…", "{disk}: zeroing {partition} ({size})…";
    InstallVerifying => "{disk} : relecture et comparaison des sommes de contrôle (SHA-256)…", "{disk}: reading back and comparing the checksums (SHA-256)…";
    InstallTable => "{disk} : écriture de la table de partitions (nouveaux identifiants) et du code de démarrage…", "{disk}: writing the partition table (new identifiers) and the boot code…";
    InstallDone => "Installé et vérifié sur {disk} : {bytes} copiés et relus en {secs} s.", "Installed and verified on {disk}: {bytes} copied and read back in {secs} s.";
    InstallNotInstalled => "{cause} — ÉCHEC : {disk} n'est PAS installé ({cleanup}).", "{cause} — FAILED: {disk} is NOT installed ({cleanup}).";
    InstallCleared => "sa table de partitions a été effacée", "its partition table was cleared";
    InstallClearFailed => "l'effacement de sa table de partitions a aussi échoué : {detail}", "clearing its partition table failed too: {detail}";
    InstallErrSource => "Disque source : {detail}", "Source disk: {detail}";
    InstallErrNotPanier => "{disk} n'est pas un disque Panier : {problem}.", "{disk} is not a Panier disk: {problem}.";
    InstallErrRefused => "Disque cible refusé : {detail}", "Target disk refused: {detail}";
    InstallErrSameDisk => "{disk} est le disque source : choisissez le disque interne.", "{disk} is the source disk: choose the internal disk.";
    InstallErrBoxName => "Nom de box invalide « {name} » : 1 à 40 lettres minuscules, chiffres ou tirets (pas au début ni à la fin).", "Invalid box name \"{name}\": 1 to 40 lowercase letters, digits or dashes (not first or last).";
    InstallErrSetupCode => "Code d'installation invalide : 8 à 32 caractères parmi ABCDEFGHJKMNPQRSTUVWXYZ23456789.", "Invalid setup code: 8 to 32 characters of ABCDEFGHJKMNPQRSTUVWXYZ23456789.";
    InstallErrTooSmall => "{disk} est trop petit : {size}, l'installation demande {needed}.", "{disk} is too small: {size}, the install needs {needed}.";
    InstallErrIo => "{disk}, partition {partition} : « {operation} » a échoué à l'octet {offset} ({detail}).", "{disk}, partition {partition}: {operation} failed at byte {offset} ({detail}).";
    InstallErrMismatch => "{disk}, partition {partition} : la relecture ne correspond pas à ce qui a été écrit.", "{disk}, partition {partition}: the read-back differs from what was written.";
    InstallErrEfi => "Partition EFI de {disk} : {detail}", "EFI partition of {disk}: {detail}";
    InstallErrTable => "Table de partitions : {detail}", "Partition table: {detail}";
    FlashMismatch => "ÉCHEC : la relecture ne correspond pas à l'image.", "FAILED: the read-back does not match the image.";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(text: &str) -> Vec<&str> {
        let mut names: Vec<&str> = text
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(n, _)| n))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    #[test]
    fn both_languages_use_the_same_placeholders() {
        for msg in Msg::ALL {
            let (fr, en) = (msg.template(Lang::Fr), msg.template(Lang::En));
            assert!(!fr.trim().is_empty() && !en.trim().is_empty(), "{msg:?}");
            assert_eq!(placeholders(fr), placeholders(en), "{msg:?}");
        }
    }

    #[test]
    fn arguments_are_substituted() {
        assert_eq!(
            tr(Lang::Fr, Msg::RamTooLow, &[("ram", &"1.0 GiB")]),
            "Mémoire insuffisante : 1.0 GiB (2 Go au minimum)."
        );
        assert_eq!(
            tr(Lang::En, Msg::StNic, &[("nic", &"eno1")]),
            "Network link eno1"
        );
    }
}
