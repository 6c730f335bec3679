mod support;
use support::sim::Sim;

#[test]
fn three_nodes_elect_and_commit() {
    let mut sim = Sim::new(3, 1, |_| {});
    let leader = sim.elect(200).expect("leader");
    sim.propose(leader, "x");
    sim.deliver_all();
    sim.tick();
    sim.deliver_all();
    for id in sim.ids() {
        assert!(
            sim.node(id).applied.iter().any(|e| &*e.data == b"x"),
            "node {id}"
        );
    }
}
