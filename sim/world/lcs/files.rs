//! Files the LCS half produces: database backups (bacpac), RSAT certificate bundles, Microsoft's
//! shared packages, and the check that an uploaded package is one.
//!
//! Every file is a real zip archive built deterministically from its inputs, so a client can
//! download, unpack and inspect it, and the same seed gives the same bytes.

use super::model::{DataOrigin, Database, FileType, FileTypeName};
use jiff::Timestamp;
use std::io::{Cursor, Read, Write};
use uuid::Uuid;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// The entry every software deployable package has at its root.
pub const PACKAGE_MANIFEST: &str = "HotfixInstallationInfo.xml";

/// A zip archive of the given entries (stored, fixed timestamps).
pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (name, data) in entries {
        // Writing to memory cannot fail but for a duplicate name, which callers never pass.
        if writer.start_file(*name, options).is_ok() {
            let _ = writer.write_all(data);
        }
    }
    writer.finish().map(Cursor::into_inner).unwrap_or_default()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A bacpac of an environment's database, as an export leaves it in the asset library.
pub fn bacpac(environment: &str, data: &Database, exported: Timestamp) -> Vec<u8> {
    let origin = match &data.origin {
        DataOrigin::Deployment => "deployment".to_string(),
        DataOrigin::Refresh { source_name, .. } => format!("refresh from {source_name}"),
        DataOrigin::Import { backup_name, .. } => format!("import of {backup_name}"),
        DataOrigin::PointInTimeRestore {
            source_name,
            point_in_time,
            ..
        } => format!("point-in-time restore of {source_name} at {point_in_time}"),
    };
    let origin_xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <DacOrigin xmlns=\"http://schemas.microsoft.com/sqlserver/dac/Serialization/2012/02\">\n\
         \x20 <PackageProperties><Version>3.0.0.0</Version><ContainsExportedData>true</ContainsExportedData></PackageProperties>\n\
         \x20 <Operation><Identity>{}</Identity><Start>{exported}</Start></Operation>\n\
         \x20 <Server>{}</Server>\n\
         \x20 <ApplicationRelease>{}</ApplicationRelease>\n\
         \x20 <DataOrigin>{}</DataOrigin>\n\
         \x20 <DataAsOf>{}</DataAsOf>\n\
         \x20 <DatabaseSizeMb>{}</DatabaseSizeMb>\n\
         </DacOrigin>\n",
        Uuid::nil(),
        xml_escape(environment),
        data.release,
        xml_escape(&origin),
        data.as_of,
        data.size_mb,
    );
    let model = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
                 <DataSchemaModel FileFormatVersion=\"1.2\" SchemaVersion=\"2.9\" \
                 DspName=\"Microsoft.Data.Tools.Schema.Sql.SqlAzureV12DatabaseSchemaProvider\" \
                 xmlns=\"http://schemas.microsoft.com/sqlserver/dac/Serialization/2012/02\">\n\
                 \x20 <Model />\n</DataSchemaModel>\n";
    zip(&[
        ("model.xml", model.as_bytes()),
        ("Origin.xml", origin_xml.as_bytes()),
    ])
}

/// A software deployable package's manifest for the given release and build.
fn package_manifest(name: &str, build: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <HotfixInstallationInfo xmlns=\"http://schemas.datacontract.org/2004/07/Microsoft.Dynamics.AX.Servicing\">\n\
         \x20 <Name>{}</Name>\n\
         \x20 <PlatformVersion>{build}</PlatformVersion>\n\
         \x20 <Type>ApplicationPackage</Type>\n\
         </HotfixInstallationInfo>\n",
        xml_escape(name)
    )
}

/// A minimal but well-formed software deployable package (used for Microsoft's shared packages
/// and handy for tests and walkthroughs).
pub fn deployable_package(name: &str, build: &str) -> Vec<u8> {
    zip(&[(PACKAGE_MANIFEST, package_manifest(name, build).as_bytes())])
}

/// Checks an uploaded file the way LCS validation does for its type; `Err` says what is wrong.
pub fn validate(file_type: FileType, data: &[u8]) -> Result<(), String> {
    if data.is_empty() {
        return Err("The file is empty; upload the file's content before committing".into());
    }
    if !file_type.is_zip() {
        return Ok(());
    }
    let mut archive = ZipArchive::new(Cursor::new(data)).map_err(|e| {
        format!(
            "The file is not a valid zip archive ({e}); {} files are zip archives",
            file_type.0.as_str()
        )
    })?;
    if file_type.0 == FileTypeName::SoftwareDeployablePackage {
        let mut manifest = archive.by_name(PACKAGE_MANIFEST).map_err(|_| {
            format!(
                "The package is not a deployable package: {PACKAGE_MANIFEST} was not found at the \
                 root of the archive"
            )
        })?;
        let mut text = String::new();
        manifest
            .read_to_string(&mut text)
            .map_err(|e| format!("{PACKAGE_MANIFEST} cannot be read: {e}"))?;
    }
    Ok(())
}

/// An RSAT certificate bundle: the zip's bytes, the bundle's password and its thumbprint.
pub struct RsatBundle {
    /// The zip (`.cer` and `.pfx`).
    pub zip: Vec<u8>,
    /// File name of the zip.
    pub file_name: String,
    /// The password protecting the `.pfx`.
    pub password: String,
    /// SHA-1 style thumbprint (40 hex digits).
    pub thumbprint: String,
}

/// Builds the RSAT certificate bundle for an environment.
pub fn rsat_bundle(
    environment: &str,
    thumbprint: &str,
    password: &str,
    now: Timestamp,
) -> RsatBundle {
    let stamp = now.strftime("%Y%m%d-%H%M%S").to_string();
    let base = format!("RSATCertificate_{environment}_{stamp}");
    let cer = format!(
        "-----BEGIN CERTIFICATE-----\n\
         Subject: CN=RSAT {environment}\nThumbprint: {thumbprint}\nIssuer: lifecycle-sim\n\
         -----END CERTIFICATE-----\n"
    );
    let pfx = format!("lifecycle-sim PKCS#12 placeholder for {environment} ({thumbprint})\n");
    RsatBundle {
        zip: zip(&[
            (&format!("{base}.cer"), cer.as_bytes()),
            (&format!("{base}.pfx"), pfx.as_bytes()),
        ]),
        file_name: format!("{base}.zip"),
        password: password.to_string(),
        thumbprint: thumbprint.to_string(),
    }
}

/// One of Microsoft's shared assets (GetSharedAssets).
#[derive(Debug, Clone, Copy)]
pub struct SharedAsset {
    /// Fixed id.
    pub id: Uuid,
    /// `Name`, ending in its version (clients parse it).
    pub name: &'static str,
    /// `FileName`, with the build after the first `_` (clients parse it).
    pub file_name: &'static str,
    /// `Version`.
    pub version: &'static str,
    /// `FileDescription`.
    pub description: &'static str,
    /// Type.
    pub file_type: FileTypeName,
    /// `ModifiedDate`.
    pub modified: &'static str,
    /// Build inside the package.
    pub build: &'static str,
}

/// Microsoft's shared asset library.
pub const SHARED_ASSETS: &[SharedAsset] = &[
    SharedAsset {
        id: Uuid::from_u128(0x5e0a_0043_0000_4000_8000_0000_0000_0043),
        name: "Finance and Operations App Update 10.0.43",
        file_name: "ServiceUpdate_10.0.2145.93.zip",
        version: "10.0.43",
        description: "Service update 10.0.43 (application and platform)",
        file_type: FileTypeName::SoftwareDeployablePackage,
        modified: "2025-07-21T17:02:11.000",
        build: "10.0.2145.93",
    },
    SharedAsset {
        id: Uuid::from_u128(0x5e0a_0044_0000_4000_8000_0000_0000_0044),
        name: "Finance and Operations App Update 10.0.44",
        file_name: "ServiceUpdate_10.0.2170.54.zip",
        version: "10.0.44",
        description: "Service update 10.0.44 (application and platform)",
        file_type: FileTypeName::SoftwareDeployablePackage,
        modified: "2025-10-20T16:40:03.000",
        build: "10.0.2170.54",
    },
    SharedAsset {
        id: Uuid::from_u128(0x5e0a_0045_0000_4000_8000_0000_0000_0045),
        name: "Finance and Operations App Update 10.0.45",
        file_name: "ServiceUpdate_10.0.2195.29.zip",
        version: "10.0.45",
        description: "Service update 10.0.45 (application and platform)",
        file_type: FileTypeName::SoftwareDeployablePackage,
        modified: "2026-01-26T16:15:47.000",
        build: "10.0.2195.29",
    },
    SharedAsset {
        id: Uuid::from_u128(0x5e0a_0046_0000_4000_8000_0000_0000_0046),
        name: "Finance and Operations App Update 10.0.46",
        file_name: "ServiceUpdate_10.0.2220.12.zip",
        version: "10.0.46",
        description: "Service update 10.0.46 (application and platform)",
        file_type: FileTypeName::SoftwareDeployablePackage,
        modified: "2026-04-20T15:58:30.000",
        build: "10.0.2220.12",
    },
    SharedAsset {
        id: Uuid::from_u128(0x5e0a_d0c5_0000_4000_8000_0000_0000_0045),
        name: "Business process library 10.0.45",
        file_name: "BusinessProcessLibrary_10.0.45.1.zip",
        version: "10.0.45",
        description: "Microsoft's business process catalog as a process data package",
        file_type: FileTypeName::ProcessDataPackage,
        modified: "2026-01-26T16:15:47.000",
        build: "10.0.45.1",
    },
];

impl SharedAsset {
    /// The shared asset with this id.
    pub fn find(id: Uuid) -> Option<&'static SharedAsset> {
        SHARED_ASSETS.iter().find(|a| a.id == id)
    }

    /// The file's content.
    pub fn content(&self) -> Vec<u8> {
        deployable_package(self.name, self.build)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::lcs::model::Release;

    #[test]
    fn packages_validate_and_junk_does_not() {
        let good = deployable_package("Main", "10.0.1.0");
        assert_eq!(validate(FileType::PACKAGE, &good), Ok(()));
        let no_manifest = zip(&[("readme.txt", b"hi")]);
        assert!(validate(FileType::PACKAGE, &no_manifest).is_err());
        assert!(validate(FileType::PACKAGE, b"not a zip").is_err());
        assert!(validate(FileType::PACKAGE, b"").is_err());
    }

    #[test]
    fn a_bacpac_is_a_zip_that_says_where_its_data_came_from() -> Result<(), String> {
        let data = Database {
            size_mb: 1024,
            release: Release(45),
            origin: DataOrigin::Deployment,
            as_of: Timestamp::UNIX_EPOCH,
        };
        let bytes = bacpac("Contoso-UAT", &data, Timestamp::UNIX_EPOCH);
        validate(FileType::BACKUP, &bytes)?;
        let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
        let mut origin = String::new();
        archive
            .by_name("Origin.xml")
            .map_err(|e| e.to_string())?
            .read_to_string(&mut origin)
            .map_err(|e| e.to_string())?;
        assert!(origin.contains("<Server>Contoso-UAT</Server>"));
        assert!(origin.contains("<ApplicationRelease>10.0.45</ApplicationRelease>"));
        Ok(())
    }
}
