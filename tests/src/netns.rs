//! A small network of the tests' own, for cutting nodes off from each other: one Linux network
//! namespace per node and one for a switch (a bridge), each node joined to the switch by a veth
//! pair, and the test process joined to it by one more, all on a private /24 that only these
//! namespaces use. Cutting a node off sets its switch port down; healing sets it up again. Every
//! namespace and link is removed when the network is dropped. Needs root (`ip netns`, iproute2).

use std::process::Command;

/// The port every node's client listener binds inside its namespace.
pub const CLIENT_PORT: u16 = 9092;
/// The port every node's controller listener binds inside its namespace.
pub const CONTROLLER_PORT: u16 = 9093;

/// The network's namespaces and links, removed on drop.
pub struct Network {
    /// Distinguishes this network's names from another test process's.
    tag: String,
    /// The third octet of the network's 10.77.x.0/24.
    subnet: u8,
    nodes: usize,
}

impl Network {
    /// Creates the switch, `nodes` node namespaces joined to it, and the test process's link.
    pub fn create(nodes: usize) -> Network {
        let pid = std::process::id();
        let network =
            Network { tag: format!("{}", pid % 100_000), subnet: u8::try_from(pid % 250).unwrap_or(0) + 1, nodes };
        network.remove(); // leftovers of an earlier process with the same pid
        let sw = network.switch();
        ip(&["netns", "add", &sw]);
        ip(&["-n", &sw, "link", "set", "lo", "up"]);
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &sw, "link", "set", "br0", "up"]);
        for node in 1..=nodes {
            let ns = network.namespace(node);
            let (inside, port) = (format!("sn{}n{node}", network.tag), network.port(node));
            ip(&["netns", "add", &ns]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            ip(&["link", "add", &inside, "type", "veth", "peer", "name", &port]);
            ip(&["link", "set", &inside, "netns", &ns]);
            ip(&["link", "set", &port, "netns", &sw]);
            ip(&["-n", &sw, "link", "set", &port, "master", "br0", "up"]);
            ip(&["-n", &ns, "addr", "add", &format!("{}/24", network.host(node)), "dev", &inside]);
            ip(&["-n", &ns, "link", "set", &inside, "up"]);
        }
        let (host, port) = (network.host_link(), format!("sp{}h", network.tag));
        ip(&["link", "add", &host, "type", "veth", "peer", "name", &port]);
        ip(&["link", "set", &port, "netns", &sw]);
        ip(&["-n", &sw, "link", "set", &port, "master", "br0", "up"]);
        ip(&["addr", "add", &format!("10.77.{}.100/24", network.subnet), "dev", &host]);
        ip(&["link", "set", &host, "up"]);
        network
    }

    /// Node `node`'s namespace (1-based).
    pub fn namespace(&self, node: usize) -> String {
        format!("strata-{}-n{node}", self.tag)
    }

    /// Node `node`'s address.
    pub fn host(&self, node: usize) -> String {
        format!("10.77.{}.{node}", self.subnet)
    }

    /// Cuts node `node` off: its switch port goes down, so nothing reaches it or leaves it.
    pub fn cut_off(&self, node: usize) {
        ip(&["-n", &self.switch(), "link", "set", &self.port(node), "down"]);
    }

    /// Joins node `node` to the switch again.
    pub fn heal(&self, node: usize) {
        ip(&["-n", &self.switch(), "link", "set", &self.port(node), "up"]);
    }

    fn switch(&self) -> String {
        format!("strata-{}-sw", self.tag)
    }

    fn port(&self, node: usize) -> String {
        format!("sp{}n{node}", self.tag)
    }

    fn host_link(&self) -> String {
        format!("sh{}", self.tag)
    }

    /// Removes the namespaces (and with them the links inside) and the test process's link.
    fn remove(&self) {
        for node in 1..=self.nodes {
            let _ = Command::new("ip").args(["netns", "del", &self.namespace(node)]).output();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.switch()]).output();
        let _ = Command::new("ip").args(["link", "del", &self.host_link()]).output();
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Runs `ip args`, panicking with its output if it fails.
fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().unwrap_or_else(|e| panic!("run ip {args:?}: {e}"));
    assert!(
        output.status.success(),
        "ip {args:?} failed (the network tests need root and iproute2): {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
