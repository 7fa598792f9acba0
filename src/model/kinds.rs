//! The vocabulary of the fleet: providers, Cluster API versions, object kinds and the
//! per-cluster Secrets.

/// Infrastructure provider whose kinds the fleet uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Cluster API Provider Metal3 (bare metal): `Metal3Cluster`, `Metal3Machine`.
    Metal3,
    /// Cluster API Provider Nutanix: `NutanixCluster`, `NutanixMachine`.
    Nutanix,
    /// Cluster API Provider Docker (CAPD): `DockerCluster`, `DockerMachine`.
    Docker,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 3] = [Provider::Metal3, Provider::Nutanix, Provider::Docker];

    /// Lowercase name, as used on the command line and in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Metal3 => "metal3",
            Provider::Nutanix => "nutanix",
            Provider::Docker => "docker",
        }
    }

    /// Kind prefix of the provider's types ("Metal3", "Nutanix", "Docker").
    pub fn kind_prefix(self) -> &'static str {
        match self {
            Provider::Metal3 => "Metal3",
            Provider::Nutanix => "Nutanix",
            Provider::Docker => "Docker",
        }
    }

    /// Kind of the provider's cluster object, e.g. `Metal3Cluster`.
    pub fn cluster_kind(self) -> &'static str {
        match self {
            Provider::Metal3 => "Metal3Cluster",
            Provider::Nutanix => "NutanixCluster",
            Provider::Docker => "DockerCluster",
        }
    }

    /// Kind of the provider's machine object, e.g. `Metal3Machine`.
    pub fn machine_kind(self) -> &'static str {
        match self {
            Provider::Metal3 => "Metal3Machine",
            Provider::Nutanix => "NutanixMachine",
            Provider::Docker => "DockerMachine",
        }
    }

    /// Kind of the provider's machine template (created per namespace with
    /// `fleet.topology`, otherwise only referenced).
    pub fn machine_template_kind(self) -> &'static str {
        match self {
            Provider::Metal3 => "Metal3MachineTemplate",
            Provider::Nutanix => "NutanixMachineTemplate",
            Provider::Docker => "DockerMachineTemplate",
        }
    }

    /// Kind of the provider's cluster template, which a ClusterClass refers to.
    pub fn cluster_template_kind(self) -> &'static str {
        match self {
            Provider::Metal3 => "Metal3ClusterTemplate",
            Provider::Nutanix => "NutanixClusterTemplate",
            Provider::Docker => "DockerClusterTemplate",
        }
    }

    /// The API versions of the provider's kinds that its current release serves, oldest
    /// first: Metal3 (CAPM3 v1.13) and Docker (CAPD, Cluster API v1.14) serve `v1beta1` and
    /// `v1beta2`; Nutanix (CAPX v1.10) only `v1beta1`.
    pub fn api_versions(self) -> &'static [CapiVersion] {
        match self {
            Provider::Metal3 | Provider::Docker => &[CapiVersion::V1beta1, CapiVersion::V1beta2],
            Provider::Nutanix => &[CapiVersion::V1beta1],
        }
    }

    /// True when the provider publishes `version`.
    pub fn serves(self, version: CapiVersion) -> bool {
        self.api_versions().contains(&version)
    }

    /// The provider version a fleet writes when neither the profile nor the target says:
    /// with Cluster API `v1beta1` the providers' `v1beta1` (the releases of that contract
    /// serve no other), with `v1beta2` the newest the provider publishes.
    pub fn default_api_version(self, capi: CapiVersion) -> CapiVersion {
        match capi {
            CapiVersion::V1beta1 => CapiVersion::V1beta1,
            CapiVersion::V1beta2 => *self.api_versions().last().unwrap_or(&CapiVersion::V1beta1),
        }
    }

    /// Kind of the provider's machine pool, for providers that implement MachinePools
    /// (of the three, only Docker: CAPD's `DockerMachinePool`).
    pub fn machine_pool_kind(self) -> Option<&'static str> {
        match self {
            Provider::Docker => Some("DockerMachinePool"),
            Provider::Metal3 | Provider::Nutanix => None,
        }
    }
}

/// Cluster API contract version of the core, bootstrap and control-plane kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CapiVersion {
    /// `v1beta1` (Cluster API v1.0 – v1.10 storage version).
    V1beta1,
    /// `v1beta2` (Cluster API v1.11+).
    V1beta2,
}

impl CapiVersion {
    /// Both versions, oldest first.
    pub const ALL: [CapiVersion; 2] = [CapiVersion::V1beta1, CapiVersion::V1beta2];

    /// The API version string, "v1beta1" or "v1beta2".
    pub fn as_str(self) -> &'static str {
        match self {
            CapiVersion::V1beta1 => "v1beta1",
            CapiVersion::V1beta2 => "v1beta2",
        }
    }
}

/// Object kinds the fleet is made of (provider kinds are generic here; their concrete
/// Kubernetes kind depends on [`Provider`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A core/v1 Namespace holding one or more clusters.
    Namespace,
    /// `Cluster` (core group).
    Cluster,
    /// The provider's cluster object (`Metal3Cluster`, ...).
    InfraCluster,
    /// `KubeadmControlPlane` (controlplane group).
    KubeadmControlPlane,
    /// `MachineDeployment` (core group).
    MachineDeployment,
    /// `MachineSet` (core group).
    MachineSet,
    /// `Machine` (core group).
    Machine,
    /// `KubeadmConfig` (bootstrap group).
    KubeadmConfig,
    /// The provider's machine object (`Metal3Machine`, ...).
    InfraMachine,
    /// A core/v1 Secret (per-cluster certificates and kubeconfig, per-machine bootstrap data).
    Secret,
    /// `ClusterClass` (core group), one per namespace with `fleet.topology`.
    ClusterClass,
    /// `KubeadmControlPlaneTemplate` (controlplane group), a ClusterClass's control plane.
    KubeadmControlPlaneTemplate,
    /// `KubeadmConfigTemplate` (bootstrap group), a ClusterClass's worker bootstrap.
    KubeadmConfigTemplate,
    /// The provider's cluster template (`Metal3ClusterTemplate`, ...).
    InfraClusterTemplate,
    /// The provider's machine template (`Metal3MachineTemplate`, ...).
    InfraMachineTemplate,
    /// `MachineHealthCheck` (core group).
    MachineHealthCheck,
    /// `MachinePool` (core group).
    MachinePool,
    /// The provider's machine pool (`DockerMachinePool`).
    InfraMachinePool,
}

impl Kind {
    /// Every kind: those of the classic fleet in creation order, then the ClusterClass-era
    /// kinds (topology templates, health checks, machine pools).
    pub const ALL: [Kind; 18] = [
        Kind::Namespace,
        Kind::Cluster,
        Kind::InfraCluster,
        Kind::KubeadmControlPlane,
        Kind::MachineDeployment,
        Kind::MachineSet,
        Kind::Machine,
        Kind::KubeadmConfig,
        Kind::InfraMachine,
        Kind::Secret,
        Kind::ClusterClass,
        Kind::KubeadmControlPlaneTemplate,
        Kind::KubeadmConfigTemplate,
        Kind::InfraClusterTemplate,
        Kind::InfraMachineTemplate,
        Kind::MachineHealthCheck,
        Kind::MachinePool,
        Kind::InfraMachinePool,
    ];

    /// Stable snake-case label used in reports and metrics, e.g. `"kubeadm_control_plane"`.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Namespace => "namespace",
            Kind::Cluster => "cluster",
            Kind::InfraCluster => "infra_cluster",
            Kind::KubeadmControlPlane => "kubeadm_control_plane",
            Kind::MachineDeployment => "machine_deployment",
            Kind::MachineSet => "machine_set",
            Kind::Machine => "machine",
            Kind::KubeadmConfig => "kubeadm_config",
            Kind::InfraMachine => "infra_machine",
            Kind::Secret => "secret",
            Kind::ClusterClass => "cluster_class",
            Kind::KubeadmControlPlaneTemplate => "kubeadm_control_plane_template",
            Kind::KubeadmConfigTemplate => "kubeadm_config_template",
            Kind::InfraClusterTemplate => "infra_cluster_template",
            Kind::InfraMachineTemplate => "infra_machine_template",
            Kind::MachineHealthCheck => "machine_health_check",
            Kind::MachinePool => "machine_pool",
            Kind::InfraMachinePool => "infra_machine_pool",
        }
    }

    /// True for the built-in core/v1 kinds (stored as protobuf by kube-apiserver).
    pub fn is_builtin(self) -> bool {
        matches!(self, Kind::Namespace | Kind::Secret)
    }

    /// True for the provider (infrastructure) kinds.
    pub fn is_provider(self) -> bool {
        matches!(
            self,
            Kind::InfraCluster
                | Kind::InfraMachine
                | Kind::InfraClusterTemplate
                | Kind::InfraMachineTemplate
                | Kind::InfraMachinePool
        )
    }

    /// Parses a [`Kind::label`] back into a kind.
    pub fn from_label(label: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.label() == label)
    }
}

/// Which per-cluster Secrets Cluster API makes (its kubeconfig and the CA, etcd, front-proxy
/// and service-account key pairs; Cluster API book, "Certificate Management",
/// <https://cluster-api.sigs.k8s.io/tasks/certs/>).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterSecret {
    /// `<cluster>-kubeconfig`: the admin kubeconfig (key `value`).
    Kubeconfig,
    /// `<cluster>-ca`: cluster CA certificate and key.
    Ca,
    /// `<cluster>-etcd`: etcd CA certificate and key.
    Etcd,
    /// `<cluster>-sa`: service-account signing key pair.
    Sa,
    /// `<cluster>-proxy`: front-proxy CA certificate and key.
    Proxy,
    /// `<cluster>-apiserver-etcd-client`: optional client certificate for an external etcd.
    ApiserverEtcdClient,
}

impl ClusterSecret {
    /// Every cluster Secret.
    pub const ALL: [ClusterSecret; 6] = [
        ClusterSecret::Kubeconfig,
        ClusterSecret::Ca,
        ClusterSecret::Etcd,
        ClusterSecret::Sa,
        ClusterSecret::Proxy,
        ClusterSecret::ApiserverEtcdClient,
    ];

    /// The set Cluster API creates by default: all but `ApiserverEtcdClient`.
    pub fn defaults() -> Vec<ClusterSecret> {
        ClusterSecret::ALL[..5].to_vec()
    }

    /// Name suffix, e.g. `"kubeconfig"` for `<cluster>-kubeconfig`.
    pub fn suffix(self) -> &'static str {
        match self {
            ClusterSecret::Kubeconfig => "kubeconfig",
            ClusterSecret::Ca => "ca",
            ClusterSecret::Etcd => "etcd",
            ClusterSecret::Sa => "sa",
            ClusterSecret::Proxy => "proxy",
            ClusterSecret::ApiserverEtcdClient => "apiserver-etcd-client",
        }
    }
}

/// The custom kinds (every kind the tool may install a CRD for), in creation order: a
/// namespace's ClusterClass and templates, then a cluster's objects.
pub const CUSTOM_KINDS: [Kind; 16] = [
    Kind::ClusterClass,
    Kind::KubeadmControlPlaneTemplate,
    Kind::InfraClusterTemplate,
    Kind::InfraMachineTemplate,
    Kind::KubeadmConfigTemplate,
    Kind::Cluster,
    Kind::InfraCluster,
    Kind::KubeadmControlPlane,
    Kind::MachineDeployment,
    Kind::MachineSet,
    Kind::MachineHealthCheck,
    Kind::MachinePool,
    Kind::Machine,
    Kind::KubeadmConfig,
    Kind::InfraMachine,
    Kind::InfraMachinePool,
];

/// The kinds of every fleet (a CRD each, whatever the fleet's shape).
pub const CLASSIC_KINDS: [Kind; 8] = [
    Kind::Cluster,
    Kind::InfraCluster,
    Kind::KubeadmControlPlane,
    Kind::MachineDeployment,
    Kind::MachineSet,
    Kind::Machine,
    Kind::KubeadmConfig,
    Kind::InfraMachine,
];
