// The team's own VPC (built by hand), with a GKE inference cluster and its bucket from ai-clusters.
// `pulumi package add ../../provider` generated @pulumi/ai-clusters from the package schema.
import * as pulumi from "@pulumi/pulumi";
import * as gcp from "@pulumi/gcp";
import * as aiClusters from "@pulumi/ai-clusters";

const config = new pulumi.Config();
const environment = config.get("environment") ?? "staging";
const region = new pulumi.Config("gcp").get("region") ?? "us-east4";
const zone = `${region}-a`;

const vpc = new gcp.compute.Network("vision-vpc", { autoCreateSubnetworks: false, routingMode: "REGIONAL", mtu: 1460 });
const subnet = new gcp.compute.Subnetwork("vision-subnet", {
    network: vpc.id,
    region,
    ipCidrRange: "10.20.0.0/20",
    privateIpGoogleAccess: true,
    secondaryIpRanges: [
        { rangeName: "vision-pods", ipCidrRange: "10.24.0.0/14" },
        { rangeName: "vision-services", ipCidrRange: "10.28.0.0/20" },
    ],
});
const router = new gcp.compute.Router("vision-router", { network: vpc.id, region });
new gcp.compute.RouterNat("vision-nat", {
    router: router.name,
    region,
    natIpAllocateOption: "AUTO_ONLY",
    sourceSubnetworkIpRangesToNat: "ALL_SUBNETWORKS_ALL_IP_RANGES",
});

const storage = new aiClusters.ClusterStorage("vision-data", {
    environment,
    cluster: "vision",
    workload: "inference",
    region,
    zone,
    path: "gke",
    network: vpc.selfLink,
    storage: { bucket: { softDeleteDays: 7, nearlineAfterDays: 30 } },
    labels: { team: "vision" },
});

const cluster = new aiClusters.GkeCluster("vision", {
    environment,
    region,
    zone,
    workload: { kind: "inference", accelerators: 4, latencyMs: 100, modelParamsB: 7 },  // 2 nodes x 2 L4 at most
    machineType: "g2-standard-24",
    network: {
        hostNetwork: vpc.selfLink,
        hostSubnetwork: subnet.selfLink,
        podsRangeName: "vision-pods",
        servicesRangeName: "vision-services",
    },
    bucket: storage.bucketName,
    labels: { team: "vision" },
    gke: { releaseChannel: "REGULAR", autoscaling: { minNodes: 1, maxNodes: 2 } },
}, { dependsOn: [subnet] });

export const endpoint = cluster.endpoint;
export const kubeconfig = cluster.kubeconfig; // a secret
export const nodeSelector = cluster.nodeSelector;
export const bucket = storage.bucketName;
