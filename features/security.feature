Feature: Cluster security and autoregistration
  Configuring mixed-mode, clusterwide security through the CTL client
  automatically disables autoregistration. To autoregister again, the
  administrator must set the security mode back to nonsecure.

  Background:
    Given the sample cluster

  Scenario: Mixed mode in the middle of a window closes it at once, and says why
    Given autoregistration is open for 60 minutes by "alice" because "bulk add"
    And 2 phones of model 7961 register over SCCP
    When 10 minutes pass
    And "bob" sets the cluster security mode to mixed
    Then the cluster security mode is mixed
    And the history records "cluster.security_mode_set" by "bob"
    And the window is closed because security was set to mixed mode
    And the window's close names "bob" and says "mixed mode, which disables autoregistration"
    And the window closed after 2 registrations
    When another phone of model 7961 registers over SCCP
    Then it is refused because the cluster is in mixed mode
    And the phone is told "Cluster in mixed mode"
    And the last rejection recorded for SEP0000CAFE0003 is "mixed_mode" saying "mixed mode"
    And phone SEP0000CAFE0001 keeps directory number 1000
    And phone SEP0000CAFE0002 keeps directory number 1001

  Scenario: Autoregistration cannot be opened while security is mixed; the refusal names the fix
    Given "bob" sets the cluster security mode to mixed
    Then the registrar reports the problem "set it to nonsecure first"
    When "alice" opens autoregistration because "bulk add"
    Then the change is refused because the cluster is in mixed mode
    And the refusal says "set it to nonsecure first"
    And the refusal says "registrar admin security nonsecure"
    And autoregistration is closed
    And nothing new is recorded

  Scenario: Going back to nonsecure does not reopen autoregistration by itself
    Given autoregistration is open by "alice" because "bulk add"
    And "bob" sets the cluster security mode to mixed
    When "bob" sets the cluster security mode to nonsecure
    Then the cluster security mode is nonsecure
    And autoregistration is closed
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is refused because the window is closed
    When "alice" opens autoregistration because "after the CTL change"
    Then the open window is W2, opened by "alice" because "after the CTL change"
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is given directory number 1000

  Scenario: Known phones keep registering in mixed mode
    Given autoregistration is open by "alice" because "bulk add"
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    And "alice" provisions phone SEP0000000000A1 of model 7940 with directory number 1050
    And "bob" sets the cluster security mode to mixed
    When phone SEP00112233AABB registers again over SCCP from 10.0.3.3
    Then phone SEP00112233AABB keeps directory number 1000
    And phone SEP00112233AABB is registered from 10.0.3.3
    When phone SEP0000000000A1 registers over SCCP from 10.0.0.9
    Then phone SEP0000000000A1 keeps directory number 1050

  Scenario: The security mode is mixed or nonsecure
    When "bob" sets the cluster security mode to secure
    Then the change is refused because it is invalid
    And the cluster security mode is nonsecure
    When "bob" sets the cluster security mode to nonsecure
    Then nothing new is recorded

  Scenario: A window whose time was up is recorded as closed by its deadline, even if mixed mode comes before the timer ticks
    Given autoregistration is open for 30 minutes by "alice" because "bulk add"
    When 45 minutes pass before the registrar's timer ticks
    And "bob" sets the cluster security mode to mixed
    Then the window is closed because the maximum duration elapsed
    And the window closed at its deadline
