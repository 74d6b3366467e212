@failure-mode @scenario-ca-block
Feature: CA block
  A CA policy blocks all cloud apps for a group the user was put in by mistake; sign-in ends with AADSTS53003.
  Guide section: MFA or sign-in loops

  Scenario: CA block: the symptom
    Given the scenario "ca-block"
    When the user tries to join the PC as the scenario describes
    Then the sign-in page shows AADSTS53003
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the device is not joined
    And the device is not enrolled in Intune
    And the admin sees error 53003 in the sign-in log
    And portal.office.com sign-in fails with AADSTS53003

  Scenario: CA block: the fix repairs it
    Given the scenario "ca-block"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the device is joined
    And the device is enrolled in Intune
    And portal.office.com sign-in succeeds
