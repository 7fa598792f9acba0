//! The fleet description ([`FleetSpec`]), payload sizes, API references and [`Object`].

use std::collections::BTreeMap;

use super::kinds::{CapiVersion, ClusterSecret, Kind, Provider};
use super::names;

/// Where the fleet's CRD schemas come from.
#[derive(Clone, Debug, Default)]
pub enum CrdSchemas {
    /// Inferred from the tool's own example bodies (small: types and required fields only).
    #[default]
    Inferred,
    /// Upstream CustomResourceDefinitions (parsed documents, e.g. from a Cluster API
    /// release's `components.yaml`), renamed into the fleet's groups. Kinds they do not
    /// define (typically the provider kinds) keep inferred schemas.
    Upstream(std::sync::Arc<Vec<serde_json::Value>>),
}

impl CrdSchemas {
    /// `"inferred"` or `"upstream"`, as in profiles and summaries.
    pub fn as_str(&self) -> &'static str {
        match self {
            CrdSchemas::Inferred => "inferred",
            CrdSchemas::Upstream(_) => "upstream",
        }
    }
}

/// Extra bytes to pad onto objects (0 = realistic default size only).
#[derive(Clone, Debug, PartialEq)]
pub struct PayloadSizes {
    /// Exact size in bytes of the cloud-init (`value` key, before base64) in each
    /// per-machine bootstrap Secret. Default 6144, a realistic kubeadm cloud-init.
    pub bootstrap_data_bytes: usize,
    /// Extra padding bytes per kind, written into the annotation
    /// [`PADDING_ANNOTATION`](super::PADDING_ANNOTATION). Missing kinds get none.
    pub extra: BTreeMap<Kind, usize>,
}

impl Default for PayloadSizes {
    fn default() -> Self {
        PayloadSizes {
            bootstrap_data_bytes: 6144,
            extra: BTreeMap::new(),
        }
    }
}

/// Why a [`FleetSpec`] cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The run id is empty, too long or has characters outside `[a-z0-9-]`.
    #[error("run id {0:?} must be 1-24 characters of [a-z0-9-], starting and ending alphanumeric")]
    RunId(String),
    /// The API group is not a lowercase DNS subdomain.
    #[error("API group {0:?} is not a valid DNS subdomain")]
    ApiGroup(String),
    /// A count is out of range.
    #[error("{field} = {value} is out of range ({reason})")]
    Count {
        /// Field name.
        field: &'static str,
        /// The offending value.
        value: u64,
        /// What the allowed range is.
        reason: &'static str,
    },
    /// The Kubernetes version is not of the form `v1.30.4`.
    #[error("kubernetes version {0:?} must look like v1.30.4")]
    KubernetesVersion(String),
    /// A provider API version the provider does not publish.
    #[error("provider {provider} has no API version {version} (it publishes {published})")]
    ProviderVersion {
        /// The provider.
        provider: &'static str,
        /// The version asked for.
        version: &'static str,
        /// What it publishes, comma-separated.
        published: String,
    },
    /// MachinePools asked of a provider without a machine pool kind.
    #[error("provider {0} has no MachinePool kind (of the modelled providers only docker has one, DockerMachinePool)")]
    NoMachinePools(&'static str),
}

/// Everything needed to generate a fleet deterministically.
#[derive(Clone, Debug)]
pub struct FleetSpec {
    /// Run id, e.g. "20261128-133501-ab12": lowercase `[a-z0-9-]`, at most 24 characters.
    pub run_id: String,
    /// Number of workload clusters.
    pub clusters: u64,
    /// Clusters per namespace (1 = one namespace per cluster; 0 is treated as 1).
    pub clusters_per_namespace: u64,
    /// KubeadmControlPlane replicas per cluster.
    pub control_plane_replicas: u32,
    /// MachineDeployments per cluster.
    pub machine_deployments: u32,
    /// Worker Machines per MachineDeployment.
    pub workers_per_machine_deployment: u32,
    /// Infrastructure provider.
    pub provider: Provider,
    /// Core API group: "loadtest.cluster.x-k8s.io" by default (private CRDs, safe next to a
    /// real Cluster API); "cluster.x-k8s.io" writes into the real Cluster API groups.
    pub api_group: String,
    /// Cluster API version of the core, bootstrap and control-plane kinds.
    pub capi_version: CapiVersion,
    /// API version of the provider (infrastructure) kinds: one the provider publishes
    /// ([`Provider::api_versions`]); [`Provider::default_api_version`] unless the profile
    /// or the target's discovery says otherwise.
    pub provider_api_version: CapiVersion,
    /// Per-cluster Secrets to create (default: all but `ApiserverEtcdClient`).
    pub cluster_secrets: Vec<ClusterSecret>,
    /// Kubernetes version of the workload clusters, e.g. "v1.30.4".
    pub kubernetes_version: String,
    /// Payload sizes.
    pub payload: PayloadSizes,
    /// The slice of the fleet this process generates (the whole fleet by default).
    pub shard: Shard,
    /// Where the CRDs' schemas come from (inferred by default).
    pub crd_schemas: CrdSchemas,
    /// ClusterClass-managed clusters: a ClusterClass with its templates per namespace, and
    /// Clusters with `spec.topology` whose objects carry the topology controller's marks.
    pub topology: bool,
    /// A MachineHealthCheck for the control plane and one per MachineDeployment.
    pub machine_health_checks: bool,
    /// MachinePools per cluster (each with its KubeadmConfig, provider machine pool and
    /// bootstrap Secret); only for providers with a machine pool kind.
    pub machine_pools: u32,
    /// Replicas of each MachinePool.
    pub machine_pool_replicas: u32,
}

/// One of `count` disjoint slices of a fleet, by namespace: shard `index` owns namespaces
/// `[index x N / count, (index + 1) x N / count)` of the fleet's N and every cluster in them,
/// so shards never share a namespace or an object name and together cover the fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: u64,
    /// Shards in all (1 = unsharded).
    pub count: u64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    /// True for the default whole-fleet shard.
    pub fn is_whole(&self) -> bool {
        self.count <= 1
    }
}

/// The default private API group.
pub const DEFAULT_API_GROUP: &str = "loadtest.cluster.x-k8s.io";

impl FleetSpec {
    /// Small defaults for tests and examples: 2 clusters (one namespace each), 3 control-plane
    /// replicas, 1 MachineDeployment x 2 workers, metal3, the loadtest group, v1beta1.
    pub fn example(run_id: &str) -> FleetSpec {
        FleetSpec {
            run_id: run_id.to_string(),
            clusters: 2,
            clusters_per_namespace: 1,
            control_plane_replicas: 3,
            machine_deployments: 1,
            workers_per_machine_deployment: 2,
            provider: Provider::Metal3,
            api_group: DEFAULT_API_GROUP.to_string(),
            capi_version: CapiVersion::V1beta1,
            provider_api_version: CapiVersion::V1beta1,
            cluster_secrets: ClusterSecret::defaults(),
            kubernetes_version: "v1.30.4".to_string(),
            payload: PayloadSizes::default(),
            shard: Shard::default(),
            crd_schemas: Default::default(),
            topology: false,
            machine_health_checks: false,
            machine_pools: 0,
            machine_pool_replicas: 3,
        }
    }

    /// Checks that the spec can be generated: run id and group syntax, Kubernetes version,
    /// and that one cluster's objects fit the naming scheme (at most 4,000,000 machines).
    pub fn validate(&self) -> Result<(), ModelError> {
        if !names::is_dns_label(&self.run_id) || self.run_id.len() > 24 {
            return Err(ModelError::RunId(self.run_id.clone()));
        }
        if self.api_group.len() > 253 || !self.api_group.split('.').all(names::is_dns_label) {
            return Err(ModelError::ApiGroup(self.api_group.clone()));
        }
        let v = self.kubernetes_version.strip_prefix('v').unwrap_or("");
        let parts: Vec<&str> = v.split('.').collect();
        if parts.len() != 3
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ModelError::KubernetesVersion(
                self.kubernetes_version.clone(),
            ));
        }
        if self.machine_deployments > 10_000 {
            return Err(ModelError::Count {
                field: "machine_deployments",
                value: self.machine_deployments.into(),
                reason: "at most 10000 per cluster",
            });
        }
        if self.machine_pools > 1_000 {
            return Err(ModelError::Count {
                field: "machine_pools",
                value: self.machine_pools.into(),
                reason: "at most 1000 per cluster",
            });
        }
        if !self.provider.serves(self.provider_api_version) {
            return Err(ModelError::ProviderVersion {
                provider: self.provider.as_str(),
                version: self.provider_api_version.as_str(),
                published: self
                    .provider
                    .api_versions()
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if self.machine_pools > 0 && self.provider.machine_pool_kind().is_none() {
            return Err(ModelError::NoMachinePools(self.provider.as_str()));
        }
        let machines = self.machines_per_cluster();
        if machines > names::MAX_MACHINES_PER_CLUSTER {
            return Err(ModelError::Count {
                field: "machines per cluster",
                value: machines,
                reason: "at most 4000000",
            });
        }
        Ok(())
    }

    /// Machines per cluster: control plane plus all workers.
    pub fn machines_per_cluster(&self) -> u64 {
        u64::from(self.control_plane_replicas)
            + u64::from(self.machine_deployments) * u64::from(self.workers_per_machine_deployment)
    }

    /// Number of objects of each kind one cluster yields. Namespaces are not included:
    /// see [`FleetSpec::namespace_count`]. The classic kinds are listed even with zero
    /// objects; health checks and machine pools only when the fleet has them.
    pub fn objects_per_cluster(&self) -> BTreeMap<Kind, u64> {
        let machines = self.machines_per_cluster();
        let mds = u64::from(self.machine_deployments);
        let mut m = BTreeMap::new();
        m.insert(Kind::Cluster, 1);
        m.insert(Kind::InfraCluster, 1);
        m.insert(Kind::KubeadmControlPlane, 1);
        m.insert(Kind::MachineDeployment, mds);
        m.insert(Kind::MachineSet, mds);
        m.insert(Kind::Machine, machines);
        m.insert(Kind::KubeadmConfig, machines);
        m.insert(Kind::InfraMachine, machines);
        m.insert(
            Kind::Secret,
            self.cluster_secrets.len() as u64 + machines + u64::from(self.machine_pools),
        );
        // The ClusterClass-era kinds only when the fleet has them.
        let checks = self.health_checks_per_cluster();
        if checks > 0 {
            m.insert(Kind::MachineHealthCheck, checks);
        }
        let pools = u64::from(self.machine_pools);
        if pools > 0 {
            m.insert(Kind::MachinePool, pools);
            m.insert(Kind::InfraMachinePool, pools);
            *m.entry(Kind::KubeadmConfig).or_default() += pools;
        }
        m
    }

    /// MachineHealthChecks per cluster: one for the control plane and one per
    /// MachineDeployment when enabled.
    pub fn health_checks_per_cluster(&self) -> u64 {
        if self.machine_health_checks {
            1 + u64::from(self.machine_deployments)
        } else {
            0
        }
    }

    /// Objects of each kind one namespace holds besides the clusters': the Namespace itself
    /// and, with `topology`, the ClusterClass and its templates (a provider machine
    /// template each for the control plane and the workers).
    pub fn objects_per_namespace(&self) -> BTreeMap<Kind, u64> {
        let mut m = BTreeMap::new();
        m.insert(Kind::Namespace, 1);
        if self.topology {
            m.insert(Kind::ClusterClass, 1);
            m.insert(Kind::KubeadmControlPlaneTemplate, 1);
            m.insert(Kind::InfraClusterTemplate, 1);
            m.insert(Kind::InfraMachineTemplate, 2);
            m.insert(Kind::KubeadmConfigTemplate, 1);
        }
        m
    }

    /// Objects one namespace holds besides its clusters' (see
    /// [`FleetSpec::objects_per_namespace`]).
    pub fn objects_in_namespace(&self) -> u64 {
        self.objects_per_namespace().values().sum()
    }

    /// The custom kinds the fleet writes, in creation order: those it needs CRDs for. The
    /// classic kinds always (a fleet without workers still gets the MachineDeployment CRD,
    /// as a Cluster API installation has it), the others when the fleet has them.
    pub fn custom_kinds(&self) -> Vec<Kind> {
        let mut counts = self.objects_per_cluster();
        counts.extend(self.objects_per_namespace());
        super::kinds::CUSTOM_KINDS
            .into_iter()
            .filter(|k| {
                super::kinds::CLASSIC_KINDS.contains(k) || counts.get(k).is_some_and(|&n| n > 0)
            })
            .collect()
    }

    /// Objects in one cluster's sequence (what [`cluster_objects`](super::cluster_objects)
    /// yields).
    pub fn objects_in_cluster(&self) -> u64 {
        self.objects_per_cluster().values().sum()
    }

    /// Total objects of the fleet: clusters x per-cluster objects + namespaces x
    /// per-namespace objects.
    pub fn total_objects(&self) -> u64 {
        self.clusters
            .saturating_mul(self.objects_in_cluster())
            .saturating_add(
                self.namespace_count()
                    .saturating_mul(self.objects_in_namespace()),
            )
    }

    /// Clusters per namespace, with 0 treated as 1.
    pub fn effective_clusters_per_namespace(&self) -> u64 {
        self.clusters_per_namespace.max(1)
    }

    /// Number of namespaces: clusters / clusters_per_namespace, rounded up.
    pub fn namespace_count(&self) -> u64 {
        self.clusters
            .div_ceil(self.effective_clusters_per_namespace())
    }

    /// The namespaces this process's shard owns (all of them when unsharded).
    pub fn namespace_range(&self) -> std::ops::Range<u64> {
        let n = u128::from(self.namespace_count());
        let (i, k) = (
            u128::from(self.shard.index),
            u128::from(self.shard.count.max(1)),
        );
        // u128: namespace counts times shard counts cannot overflow.
        ((n * i / k) as u64)..((n * (i + 1) / k) as u64)
    }

    /// The clusters this process's shard owns: every cluster of its namespaces.
    pub fn cluster_range(&self) -> std::ops::Range<u64> {
        let ns = self.namespace_range();
        let per = self.effective_clusters_per_namespace();
        let end = ns.end.saturating_mul(per).min(self.clusters);
        ns.start.saturating_mul(per).min(end)..end
    }

    /// Clusters this process's shard owns.
    pub fn shard_clusters(&self) -> u64 {
        let r = self.cluster_range();
        r.end - r.start
    }

    /// Objects this process's shard creates: its clusters' objects and its namespaces'.
    pub fn shard_objects(&self) -> u64 {
        let ns = self.namespace_range();
        self.shard_clusters()
            .saturating_mul(self.objects_in_cluster())
            .saturating_add((ns.end - ns.start).saturating_mul(self.objects_in_namespace()))
    }

    /// Index of the namespace holding `cluster`.
    pub fn namespace_index(&self, cluster: u64) -> u64 {
        cluster / self.effective_clusters_per_namespace()
    }

    /// Name of the namespace with index `namespace_index`: `clg-<run id>-<n, 5 digits>`.
    pub fn namespace_name(&self, namespace_index: u64) -> String {
        format!("clg-{}-{:05}", self.run_id, namespace_index)
    }

    /// Namespace of `cluster`: deterministic, includes the run id, a DNS-1123 label of at
    /// most 63 characters for run ids of at most 24 characters.
    pub fn namespace_of(&self, cluster: u64) -> String {
        self.namespace_name(self.namespace_index(cluster))
    }

    /// Name of `cluster`, e.g. "c00042" (unique within the fleet; clusters are namespaced).
    pub fn cluster_name(&self, cluster: u64) -> String {
        format!("c{cluster:05}")
    }

    /// The bootstrap group: `bootstrap.<api_group>`.
    pub fn bootstrap_group(&self) -> String {
        format!("bootstrap.{}", self.api_group)
    }

    /// The control-plane group: `controlplane.<api_group>`.
    pub fn controlplane_group(&self) -> String {
        format!("controlplane.{}", self.api_group)
    }

    /// The infrastructure group: `infrastructure.<api_group>`.
    pub fn infrastructure_group(&self) -> String {
        format!("infrastructure.{}", self.api_group)
    }

    /// Where `kind` is served. Core kinds use `api_group`, bootstrap/control-plane/
    /// infrastructure kinds the prefixed groups (so "cluster.x-k8s.io" gives exactly the
    /// upstream groups). Provider kinds are served in `provider_api_version`.
    pub fn api_ref(&self, kind: Kind) -> ApiRef {
        let capi = self.capi_version.as_str();
        let infra = self.provider_api_version.as_str();
        let (group, version, k) = match kind {
            Kind::Namespace => (String::new(), "v1", "Namespace"),
            Kind::Secret => (String::new(), "v1", "Secret"),
            Kind::Cluster => (self.api_group.clone(), capi, "Cluster"),
            Kind::MachineDeployment => (self.api_group.clone(), capi, "MachineDeployment"),
            Kind::MachineSet => (self.api_group.clone(), capi, "MachineSet"),
            Kind::Machine => (self.api_group.clone(), capi, "Machine"),
            Kind::KubeadmConfig => (self.bootstrap_group(), capi, "KubeadmConfig"),
            Kind::KubeadmControlPlane => (self.controlplane_group(), capi, "KubeadmControlPlane"),
            Kind::InfraCluster => (
                self.infrastructure_group(),
                infra,
                self.provider.cluster_kind(),
            ),
            Kind::InfraMachine => (
                self.infrastructure_group(),
                infra,
                self.provider.machine_kind(),
            ),
            Kind::ClusterClass => (self.api_group.clone(), capi, "ClusterClass"),
            Kind::MachineHealthCheck => (self.api_group.clone(), capi, "MachineHealthCheck"),
            Kind::MachinePool => (self.api_group.clone(), capi, "MachinePool"),
            Kind::KubeadmConfigTemplate => (self.bootstrap_group(), capi, "KubeadmConfigTemplate"),
            Kind::KubeadmControlPlaneTemplate => (
                self.controlplane_group(),
                capi,
                "KubeadmControlPlaneTemplate",
            ),
            Kind::InfraClusterTemplate => (
                self.infrastructure_group(),
                infra,
                self.provider.cluster_template_kind(),
            ),
            Kind::InfraMachineTemplate => (
                self.infrastructure_group(),
                infra,
                self.provider.machine_template_kind(),
            ),
            Kind::InfraMachinePool => (
                self.infrastructure_group(),
                infra,
                // Only Docker has one (validated); the others' would-be name is never served.
                self.provider
                    .machine_pool_kind()
                    .unwrap_or("UnsupportedMachinePool"),
            ),
        };
        ApiRef {
            group,
            version: version.to_string(),
            kind: k.to_string(),
            // "clusterclasses", "machines".
            plural: match k.to_ascii_lowercase() {
                k if k.ends_with('s') => format!("{k}es"),
                k => format!("{k}s"),
            },
            namespaced: kind != Kind::Namespace,
        }
    }
}

/// Where a kind is served. `group` "" = the core group (`v1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiRef {
    /// API group, "" for the core group.
    pub group: String,
    /// API version, e.g. "v1beta1".
    pub version: String,
    /// Concrete kind, e.g. "Metal3Machine".
    pub kind: String,
    /// Resource (plural), e.g. "metal3machines".
    pub plural: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
}

impl ApiRef {
    /// The `apiVersion` field: "v1" for the core group, else "group/version".
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The REST collection path for `namespace` (ignored for cluster-scoped kinds), e.g.
    /// `/apis/cluster.x-k8s.io/v1beta1/namespaces/ns/machines` or `/api/v1/namespaces`.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let root = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced => format!("{root}/namespaces/{ns}/{}", self.plural),
            _ => format!("{root}/{}", self.plural),
        }
    }

    /// The etcd key kube-apiserver uses for an object (its default `/registry` prefix): custom resources
    /// `/registry/<group>/<plural>/<ns>/<name>`, built-ins `/registry/<plural>/<ns>/<name>`.
    pub fn etcd_key(&self, namespace: Option<&str>, name: &str) -> String {
        let mut key = String::from("/registry/");
        if !self.group.is_empty() {
            key.push_str(&self.group);
            key.push('/');
        }
        key.push_str(&self.plural);
        if let Some(ns) = namespace.filter(|_| self.namespaced) {
            key.push('/');
            key.push_str(ns);
        }
        key.push('/');
        key.push_str(name);
        key
    }
}

/// One object to create.
#[derive(Clone, Debug)]
pub struct Object {
    /// Position within its cluster's sequence (0..), deterministic. Namespaces use 0.
    pub index: u32,
    /// Generic kind.
    pub kind: Kind,
    /// Where the kind is served.
    pub api: ApiRef,
    /// Namespace (None for Namespace objects).
    pub namespace: Option<String>,
    /// Object name.
    pub name: String,
    /// Placeholder UID of this object, unique within the fleet. Equal to
    /// [`placeholder_uid`](super::placeholder_uid)`(run_id, namespace, name)` for every kind
    /// except Secrets, whose names may equal their KubeadmConfig's: theirs hashes the name
    /// `"secrets/<name>"` instead. Use this (not a recomputation) for `metadata.uid`.
    pub uid: String,
    /// Indices (within the same cluster sequence) of this object's owners, in the same order
    /// as `body.metadata.ownerReferences`. Always smaller than `index`.
    pub owners: Vec<u32>,
    /// Complete object: apiVersion, kind, metadata (name, namespace, labels, annotations,
    /// ownerReferences with placeholder uids), spec and status, or data/type for Secrets.
    pub body: serde_json::Value,
}

impl Object {
    /// The etcd key kube-apiserver would store this object under.
    pub fn etcd_key(&self) -> String {
        self.api.etcd_key(self.namespace.as_deref(), &self.name)
    }
}
