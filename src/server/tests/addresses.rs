//! Client addresses: connections bounded per address (IPv6 by /64), and the handler's
//! `ConnectInfo`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;

#[tokio::test]
async fn connections_over_the_per_address_bound_are_closed_at_accept() {
    let max = 3;
    let server = Server::start(ServerLimits {
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(10),
        max_connections_per_ip: max,
        shutdown_timeout: Duration::from_secs(5),
        unbounded: Vec::new(),
    })
    .await;
    let mut open = Vec::new();
    for _ in 0..max {
        let mut conn = server.connect().await;
        let (status, _, _) = request(&mut conn, "/").await;
        assert_eq!(status, 200);
        open.push(conn);
    }

    let since = Instant::now();
    let mut extra = server.connect().await;
    let (_, sent) = closed(&mut extra, since, Duration::from_secs(1)).await;
    assert!(sent.is_empty(), "sent {sent:?}");

    for conn in &mut open {
        let (status, _, _) = request(conn, "/").await;
        assert_eq!(status, 200);
    }

    drop(open.pop());
    // The server notices the close a moment after the client made it.
    let mut accepted = false;
    for _ in 0..50 {
        let mut conn = server.connect().await;
        let head = b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
        if write_all(&conn, head).await.is_ok() {
            let (_, sent) = closed(&mut conn, Instant::now(), Duration::from_secs(1)).await;
            if !sent.is_empty() {
                assert!(sent.starts_with(b"HTTP/1.1 200"), "sent {sent:?}");
                accepted = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(accepted, "no connection accepted after one closed");
}

#[tokio::test]
async fn handler_gets_connect_info() {
    let server = Server::start(limits()).await;
    let mut conn = server.connect().await;
    let local = conn.local_addr().expect("local address");
    let (status, _, body) = request(&mut conn, "/").await;
    assert_eq!((status, body), (200, local.to_string()));
}

#[test]
fn client_key_groups_ipv6_by_64_and_maps_ipv4() {
    let v4 = Ipv4Addr::new(192, 0, 2, 7);
    assert_eq!(ClientKey::of(IpAddr::V4(v4)), ClientKey::V4(v4));
    assert_eq!(
        ClientKey::of(IpAddr::V6(v4.to_ipv6_mapped())),
        ClientKey::V4(v4)
    );
    let a: Ipv6Addr = "2001:db8:1:2::1".parse().expect("address");
    let b: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().expect("address");
    let c: Ipv6Addr = "2001:db8:1:3::1".parse().expect("address");
    assert_eq!(ClientKey::of(IpAddr::V6(a)), ClientKey::of(IpAddr::V6(b)));
    assert_ne!(ClientKey::of(IpAddr::V6(a)), ClientKey::of(IpAddr::V6(c)));
}

#[test]
fn per_address_counts_are_released_and_forgotten() {
    let per_address = Arc::new(PerAddress::new(2));
    let one = ClientKey::V4(Ipv4Addr::new(192, 0, 2, 1));
    let two = ClientKey::V4(Ipv4Addr::new(192, 0, 2, 2));
    let first = per_address.try_acquire(one).expect("first");
    let second = per_address.try_acquire(one).expect("second");
    assert!(per_address.try_acquire(one).is_none());
    let other = per_address.try_acquire(two).expect("other client");
    drop(first);
    let third = per_address.try_acquire(one).expect("after a release");
    drop((second, third, other));
    assert!(per_address.lock().is_empty());
}
