// Package contract names the Cluster API constants capi-loadgen's provisioning measurement
// reads from the objects the managers write (condition types and the Machine phase), so that
// `go vet` of this module fails when a pinned release renames them.
package contract

import clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

// What src/real_controllers/provision.rs looks for, as upstream spells it.
const (
	// Available is the Cluster condition a provisioned cluster has true.
	Available = clusterv1.ClusterAvailableCondition
	// ControlPlaneInitialized is true once the control plane accepts requests.
	ControlPlaneInitialized = clusterv1.ClusterControlPlaneInitializedCondition
	// Running is the phase of a Machine whose node is up.
	Running = clusterv1.MachinePhaseRunning
)
