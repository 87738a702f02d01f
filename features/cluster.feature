Feature: A cluster of CallManagers
  Autoregistration runs on one CallManager only: the first of the group
  flagged as the Auto-registration CallManager Group, with autoregistration
  enabled (checklist steps 2 and 3). New phones autoregister with it; any
  other CallManager refuses them, as CallManager does ("Error DBConfig").
  Known phones register with any CallManager, and the registration records
  which. The rules hold at every moment: a change of the topology that
  breaks them while a window is open closes the window at once.

  Background:
    Given the sample cluster
    And "alice" configures CallManager "CM2" with autoregistration disabled
    And "alice" configures CallManager group "Default" with CM1, CM2

  Scenario: Only the autoregistration CallManager takes new phones
    Given autoregistration is open by "alice" because "bulk add"
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5 with CallManager CM2
    Then it is refused because its CallManager is not the autoregistration one
    And the phone is told "Error DBConfig"
    And phone SEP00112233AABB is unknown
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5 with CallManager CM1
    Then it is given directory number 1000
    And phone SEP00112233AABB is registered with CallManager CM1

  Scenario: A known phone fails over to another CallManager and back; the one it left does not unregister it
    Given autoregistration is open by "alice" because "bulk add"
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5 with CallManager CM1
    And "alice" closes autoregistration because "done"
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.6 with CallManager CM2
    Then phone SEP00112233AABB is registered with CallManager CM2
    When the connection of phone SEP00112233AABB to CallManager CM1 is lost
    Then phone SEP00112233AABB is registered with CallManager CM2
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.7 with CallManager CM1
    And the connection of phone SEP00112233AABB to CallManager CM2 is lost
    Then phone SEP00112233AABB is registered with CallManager CM1

  Scenario: Enabling autoregistration on a second CallManager while a window is open closes it
    Given autoregistration is open by "alice" because "bulk add"
    When "bob" configures CallManager "CM2" with autoregistration enabled
    Then the change is accepted
    And the window is closed because the cluster broke the rules

  Scenario: Putting another CallManager first in the autoregistration group while a window is open closes it
    Given autoregistration is open by "alice" because "bulk add"
    When "bob" configures CallManager group "Default" with CM2, CM1
    Then the change is accepted
    And the window is closed because the cluster broke the rules

  Scenario: Disabling autoregistration on its only CallManager while a window is open closes it
    Given autoregistration is open by "alice" because "bulk add"
    When "bob" configures CallManager "CM1" with autoregistration disabled
    Then the change is accepted
    And the window is closed because the cluster broke the rules
    When "alice" opens autoregistration because "again"
    Then the change is refused because autoregistration is misconfigured

  Scenario: A change that keeps the rules leaves the window open
    Given autoregistration is open by "alice" because "bulk add"
    When "bob" configures CallManager group "Default" with CM1
    Then the change is accepted
    And autoregistration is open
